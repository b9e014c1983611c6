"""Main-person selection across frames and One-Euro temporal smoothing of keypoints.

Pure numpy; both steps work on the (P, 134, 3) per-frame detections of any backend.
"""

from __future__ import annotations

import numpy as np

from animatex.errors import AnimatexError
from animatex.pose.skeleton import BODY, CONFIDENCE_THRESHOLD, NUM_KEYPOINTS


def person_boxes(persons: np.ndarray, threshold: float = CONFIDENCE_THRESHOLD) -> np.ndarray:
    """(P, 4) x0, y0, x1, y1 of each person's visible body points (all NaN for a person with none)."""
    body = persons[:, BODY]
    visible = body[..., 2] >= threshold
    x = np.where(visible, body[..., 0], np.nan)
    y = np.where(visible, body[..., 1], np.nan)
    boxes = np.full((len(persons), 4), np.nan, np.float32)
    has = visible.any(axis=1)
    if has.any():
        boxes[has] = np.stack(
            [np.nanmin(x[has], 1), np.nanmin(y[has], 1), np.nanmax(x[has], 1), np.nanmax(y[has], 1)], axis=1
        )
    return boxes


def prominence(persons: np.ndarray, width: int, height: int) -> np.ndarray:
    """(P,) how much each person looks like the subject: size times closeness to the image centre.

    Ours: size = sqrt(box area / image area), offset = distance of the box centre from the image centre
    over half the diagonal, score = size * (1 - offset / 2). A person with no visible body point scores -1.
    """
    boxes = person_boxes(persons)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    size = np.sqrt(np.maximum(area, 0.0) / (width * height))
    center = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], axis=1)
    offset = np.hypot(center[:, 0] - width / 2, center[:, 1] - height / 2) / (np.hypot(width, height) / 2)
    score = size * (1.0 - np.minimum(offset, 1.0) / 2)
    return np.where(np.isnan(score), -1.0, score)


def pose_distance(reference: np.ndarray, persons: np.ndarray) -> np.ndarray:
    """(P,) mean distance of each person's body points to `reference` (134, 3), over points both show.

    Falls back to the distance between body-box centres when no body point is visible in both.
    """
    ref_visible = reference[BODY, 2] >= CONFIDENCE_THRESHOLD
    out = np.empty(len(persons), np.float64)
    ref_box = person_boxes(reference[None])[0]
    boxes = person_boxes(persons)
    for p, person in enumerate(persons):
        common = ref_visible & (person[BODY, 2] >= CONFIDENCE_THRESHOLD)
        if common.any():
            delta = person[BODY][common, :2] - reference[BODY][common, :2]
            out[p] = np.hypot(delta[:, 0], delta[:, 1]).mean()
        else:
            a = (ref_box[:2] + ref_box[2:]) / 2
            b = (boxes[p, :2] + boxes[p, 2:]) / 2
            out[p] = np.hypot(*(a - b))
    return np.where(np.isnan(out), np.inf, out)


def select_main_person(
    detections: list[np.ndarray], width: int, height: int, track: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """One person per frame: (F, 134, 3) keypoints (zeros where none) and (F,) bool found.

    The first frame with anyone picks the most prominent person (largest, most central); with `track`
    each later frame picks the person nearest the last one kept, otherwise each frame picks its own most
    prominent person.
    """
    keypoints = np.zeros((len(detections), NUM_KEYPOINTS, 3), np.float32)
    found = np.zeros(len(detections), bool)
    previous = None
    for f, persons in enumerate(detections):
        persons = np.asarray(persons, np.float32)
        if persons.ndim != 3 or persons.shape[1:] != (NUM_KEYPOINTS, 3):
            raise AnimatexError(
                f"frame {f}: detections must have shape (P, {NUM_KEYPOINTS}, 3), got {persons.shape}"
            )
        score = prominence(persons, width, height) if len(persons) else np.zeros(0)
        candidates = np.flatnonzero(score >= 0)
        if not len(candidates):
            continue
        if track and previous is not None:
            best = candidates[np.argmin(pose_distance(previous, persons[candidates]))]
        else:
            best = candidates[np.argmax(score[candidates])]
        keypoints[f] = persons[best]
        found[f] = True
        previous = persons[best]
    return keypoints, found


# ---- One-Euro filter (Casiez, Roussel, Vogel, CHI 2012) --------------------------------------------
ONE_EURO_MIN_CUTOFF = 1.5  # Hz: cutoff when still; lower removes more jitter and adds more lag
ONE_EURO_BETA = 5.0  # cutoff gain per unit speed (image sizes / s); higher follows fast motion closer
ONE_EURO_D_CUTOFF = 1.0  # Hz: cutoff of the speed estimate


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray:
    tau = 1.0 / (2.0 * np.pi * np.asarray(cutoff))
    return 1.0 / (1.0 + tau / dt)


def one_euro_smooth(
    keypoints: np.ndarray,
    fps: float,
    scale: float,
    min_cutoff: float = ONE_EURO_MIN_CUTOFF,
    beta: float = ONE_EURO_BETA,
    d_cutoff: float = ONE_EURO_D_CUTOFF,
    threshold: float = CONFIDENCE_THRESHOLD,
) -> np.ndarray:
    """One-Euro low-pass of visible points over time; a copy of (F, N, 3), confidences unchanged.

    Positions are filtered in units of `scale` pixels (use the image's long side) so the parameters do
    not depend on resolution. Each point restarts its filter after a gap (an invisible frame), so a
    point that reappears is not dragged from where it vanished.
    """
    keypoints = np.asarray(keypoints, np.float32)
    if keypoints.ndim != 3 or keypoints.shape[2] != 3:
        raise AnimatexError(f"keypoints must have shape (frames, points, 3), got {keypoints.shape}")
    if not (fps > 0 and scale > 0 and min_cutoff > 0 and beta >= 0 and d_cutoff > 0):
        raise AnimatexError("one_euro_smooth needs fps, scale, min_cutoff, d_cutoff > 0 and beta >= 0")
    dt = 1.0 / fps
    out = keypoints.copy()
    position = keypoints[..., :2].astype(np.float64) / scale
    visible = (keypoints[..., 2] >= threshold) & np.isfinite(position).all(axis=-1)
    state = np.zeros(position.shape[1:], np.float64)
    speed = np.zeros_like(state)
    active = np.zeros(position.shape[1], bool)
    a_d = _alpha(d_cutoff, dt)
    for f in range(len(position)):
        now = visible[f]
        fresh = now & ~active
        state[fresh] = position[f][fresh]
        speed[fresh] = 0.0
        go = now & active
        if go.any():
            raw_speed = (position[f][go] - state[go]) / dt
            speed[go] = a_d * raw_speed + (1 - a_d) * speed[go]
            cutoff = min_cutoff + beta * np.linalg.norm(speed[go], axis=-1, keepdims=True)
            a = _alpha(cutoff, dt)
            state[go] = a * position[f][go] + (1 - a) * state[go]
        active = now
        out[f, now, :2] = (state[now] * scale).astype(np.float32)
    return out
