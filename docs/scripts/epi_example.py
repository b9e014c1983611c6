"""Draw docs/img/epi_example.png: a driving pose, a pool anchor, the realigned pose, then rescale ops.

Run from the repository root: `.venv/bin/python docs/scripts/epi_example.py`.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from animatex.pose.draw import draw_pose
from animatex.pose.epi import BODY_LIMB_GROUPS, drop_parts, realign, rescale_arms, rescale_shoulders
from animatex.pose.kinematics import forward_kinematics
from animatex.pose.retarget import limb_index
from animatex.pose.sequence import PoseSequence
from animatex.pose.skeleton import BODY_INDEX, FACE, LEFT_HAND, NUM_KEYPOINTS, RIGHT_HAND

WIDTH, HEIGHT = 384, 640
UNIT = 100.0  # neck-hip distance of the driving person, pixels
# Rest proportions in units of the neck-hip distance (same table as epi._CANONICAL).
PROPORTIONS = {
    ("neck", "right_shoulder"): 0.40, ("neck", "left_shoulder"): 0.40,
    ("right_shoulder", "right_elbow"): 0.55, ("right_elbow", "right_wrist"): 0.50,
    ("left_shoulder", "left_elbow"): 0.55, ("left_elbow", "left_wrist"): 0.50,
    ("neck", "right_hip"): 1.0, ("right_hip", "right_knee"): 0.85, ("right_knee", "right_ankle"): 0.80,
    ("neck", "left_hip"): 1.0, ("left_hip", "left_knee"): 0.85, ("left_knee", "left_ankle"): 0.80,
    ("neck", "nose"): 0.45, ("nose", "right_eye"): 0.10, ("right_eye", "right_ear"): 0.15,
    ("nose", "left_eye"): 0.10, ("left_eye", "left_ear"): 0.15,
}  # fmt: skip
# A dancing frame: right arm up, left arm out, weight on the left leg.
ANGLES = {
    ("neck", "right_shoulder"): np.pi, ("neck", "left_shoulder"): 0.0,
    ("right_shoulder", "right_elbow"): -2.5, ("right_elbow", "right_wrist"): -1.9,
    ("left_shoulder", "left_elbow"): 0.6, ("left_elbow", "left_wrist"): -0.3,
    ("neck", "right_hip"): 1.77, ("right_hip", "right_knee"): 2.0, ("right_knee", "right_ankle"): 1.45,
    ("neck", "left_hip"): 1.37, ("left_hip", "left_knee"): 1.5, ("left_knee", "left_ankle"): 1.6,
    ("neck", "nose"): -1.5, ("nose", "right_eye"): -2.36, ("right_eye", "right_ear"): 2.85,
    ("nose", "left_eye"): -0.79, ("left_eye", "left_ear"): 0.29,
}  # fmt: skip


def _limb_array(table: dict[tuple[str, str], float]) -> np.ndarray:
    out = np.zeros(len(table))
    for pair, value in table.items():
        out[limb_index(*pair)] = value
    return out


def _hand(wrist: np.ndarray, direction: float, size: float) -> np.ndarray:
    """21 points: five fingers fanned around `direction`, four joints each."""
    points = [wrist]
    for finger, spread in enumerate(np.linspace(-0.7, 0.5, 5)):
        reach = (0.8 if finger == 0 else 1.0) * size
        for joint in range(1, 5):
            angle = direction + spread * (1.2 if joint == 1 else 1.0)
            points.append(wrist + reach * (0.3 + 0.18 * joint) * np.array([np.cos(angle), np.sin(angle)]))
    return np.array(points)


def _face(nose: np.ndarray, size: float) -> np.ndarray:
    """68 points in the iBUG layout: jaw, brows, nose, eyes, mouth, around the nose."""
    t = np.linspace(np.pi * 0.05, np.pi * 0.95, 17)
    jaw = np.stack([-np.cos(t) * 1.0, -0.3 + np.sin(t) * 1.1], -1)
    brows = [
        np.stack([np.linspace(a, b, 5), -0.75 + 0.05 * np.sin(np.linspace(0, np.pi, 5)) * -1], -1)
        for a, b in ((-0.8, -0.2), (0.2, 0.8))
    ]
    bridge = np.stack([np.zeros(4), np.linspace(-0.6, -0.1, 4)], -1)
    nostrils = np.stack([np.linspace(-0.2, 0.2, 5), np.full(5, 0.05)], -1)
    eyes = []
    for cx in (-0.45, 0.45):
        a = np.linspace(0, 2 * np.pi, 6, endpoint=False) + np.pi
        eyes.append(np.stack([cx + 0.18 * np.cos(a), -0.45 + 0.08 * np.sin(a)], -1))
    a = np.linspace(0, 2 * np.pi, 12, endpoint=False) + np.pi
    mouth = np.stack([0.4 * np.cos(a), 0.45 + 0.15 * np.sin(a)], -1)
    a = np.linspace(0, 2 * np.pi, 8, endpoint=False) + np.pi
    inner = np.stack([0.25 * np.cos(a), 0.45 + 0.06 * np.sin(a)], -1)
    layout = np.concatenate([jaw, *brows, bridge, nostrils, *eyes, mouth, inner])
    return nose + size * layout


def driving_pose() -> PoseSequence:
    lengths, angles = _limb_array(PROPORTIONS) * UNIT, _limb_array(ANGLES)
    body = forward_kinematics(np.array([WIDTH / 2, 190.0]), angles, lengths)
    keypoints = np.zeros((1, NUM_KEYPOINTS, 3))
    keypoints[0, :18, :2] = body
    idx = BODY_INDEX
    for ankle, start, side in (("left_ankle", 18, 1.0), ("right_ankle", 21, -1.0)):
        a = body[idx[ankle]]
        keypoints[0, start : start + 3, :2] = a + np.array([[side * 18, 14], [side * 26, 10], [-side * 4, 8]])
    keypoints[0, FACE, :2] = _face(body[idx["nose"]], 0.16 * UNIT)  # eyes as far apart as the eye bones
    for hand, wrist, elbow in (
        (LEFT_HAND, "left_wrist", "left_elbow"),
        (RIGHT_HAND, "right_wrist", "right_elbow"),
    ):
        d = body[idx[wrist]] - body[idx[elbow]]
        keypoints[0, hand, :2] = _hand(body[idx[wrist]], np.arctan2(d[1], d[0]), 0.35 * UNIT)
    keypoints[..., 2] = 1.0
    return PoseSequence(keypoints, WIDTH, HEIGHT)


def chibi_anchor() -> PoseSequence:
    """A pool anchor with a cartoon body: short legs and arms, long neck-to-head, big head, wide shoulders."""
    factors = np.ones(17)
    for group, factor in (("legs", 0.45), ("arms", 0.75), ("face", 2.6), ("shoulders", 1.25), ("body", 0.8)):
        factors[list(BODY_LIMB_GROUPS[group])] = factor
    rest = {pair: angle for pair, angle in ANGLES.items()}
    rest.update({("right_shoulder", "right_elbow"): 1.9, ("right_elbow", "right_wrist"): 1.7})
    rest.update({("left_shoulder", "left_elbow"): 1.25, ("left_elbow", "left_wrist"): 1.45})
    rest.update({("right_hip", "right_knee"): 1.65, ("right_knee", "right_ankle"): 1.57})
    rest.update({("left_hip", "left_knee"): 1.5, ("left_knee", "left_ankle"): 1.57})
    lengths = _limb_array(PROPORTIONS) * UNIT * 0.9 * factors
    body = forward_kinematics(np.array([WIDTH / 2, 260.0]), _limb_array(rest), lengths)
    return PoseSequence.from_body(body[None], WIDTH, HEIGHT)


def _panel(pose: PoseSequence, title: str, lines: tuple[str, ...] = ()) -> np.ndarray:
    image = draw_pose(pose, draw_face=True, draw_feet=True)
    header = np.full((70, WIDTH, 3), 255, np.uint8)
    cv2.putText(header, title, (10, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 0), 2, cv2.LINE_AA)
    for i, line in enumerate(lines):
        cv2.putText(
            header, line, (10, 50 + 16 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (60, 60, 60), 1, cv2.LINE_AA
        )
    return np.concatenate([header, image])


def main() -> None:
    driving, anchor = driving_pose(), chibi_anchor()
    realigned = realign(driving, anchor)
    rescaled = drop_parts(
        rescale_shoulders(rescale_arms(realigned, scale=1.3), scale=0.8), parts=["left_leg"]
    )
    panels = [
        _panel(driving, "1. driving pose", ("from the training video",)),
        _panel(anchor, "2. anchor from the pool", ("another character's body",)),
        _panel(realigned, "3. realigned", ("anchor's bone lengths,", "driving pose's bone angles")),
        _panel(rescaled, "4. + rescale ops", ("arms x1.3, shoulders x0.8,", "drop left leg")),
    ]
    gap = np.full((HEIGHT + 70, 6, 3), 255, np.uint8)
    picture = np.concatenate([p for panel in panels for p in (panel, gap)][:-1], axis=1)
    out = Path("docs/img/epi_example.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
    print(out, picture.shape)


if __name__ == "__main__":
    main()
