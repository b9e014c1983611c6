"""Parametric motion families as per-frame absolute bone angles on the OpenPose-18 tree.

A `Motion` holds, for every frame, the 17 absolute limb directions (the `BODY_LIMBS` order of
`animatex.pose.skeleton`) and a root offset in units of the performer's stature. Driving and target
characters share these angles exactly and differ only in bone lengths, so the target's keypoints are the
retargeted motion by construction (`animatex.data.world.place_motion`).

Angles are image angles (y points down): 0 = right, pi/2 = down, -pi/2 = up. The figure faces the camera,
so the person's right side is on the image's left.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from animatex.errors import AnimatexError
from animatex.pose.skeleton import BODY_FLIP, BODY_LIMBS

HALF_PI = np.pi / 2

# Limb indices into BODY_LIMBS, by name (r = the person's right = image left).
R_SHOULDER, L_SHOULDER, R_UPPER_ARM, R_FOREARM, L_UPPER_ARM, L_FOREARM = 0, 1, 2, 3, 4, 5
R_TORSO, R_THIGH, R_SHIN, L_TORSO, L_THIGH, L_SHIN = 6, 7, 8, 9, 10, 11
NECK_HEAD, R_EYE, R_EAR, L_EYE, L_EAR = 12, 13, 14, 15, 16
HEAD_LIMBS = (NECK_HEAD, R_EYE, R_EAR, L_EYE, L_EAR)
ARM_LIMBS = (R_UPPER_ARM, R_FOREARM, L_UPPER_ARM, L_FOREARM)

# Standing rest pose, facing the camera.
REST_ANGLES = np.array(
    [
        np.pi, 0.0,  # shoulders
        HALF_PI + 0.15, HALF_PI + 0.10, HALF_PI - 0.15, HALF_PI - 0.10,  # arms hang slightly out
        HALF_PI + 0.18, HALF_PI + 0.03, HALF_PI,  # right torso side, thigh, shin
        HALF_PI - 0.18, HALF_PI - 0.03, HALF_PI,  # left
        -HALF_PI, -np.pi + 0.55, np.pi - 0.25, -0.55, 0.25,  # nose, eyes, ears
    ]
)  # fmt: skip

# A limb's mirror image: the limb between the flipped joints.
_LIMB_FLIP = np.array([BODY_LIMBS.index((BODY_FLIP[p], BODY_FLIP[c])) for p, c in BODY_LIMBS])


@dataclass
class Motion:
    """One clip's motion: `angles` (F, 17) radians and `root` (F, 2) offsets in stature units.

    `root[:, 0]` moves the figure right, `root[:, 1]` lifts it off the ground (a jump).
    """

    family: str
    angles: np.ndarray
    root: np.ndarray
    fps: float
    params: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.angles)


def _side(e_right: np.ndarray, e_left: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Arm or leg angles from elevations: 0 = hanging down, pi/2 = straight out, pi = straight up."""
    e_left = e_right if e_left is None else e_left
    return HALF_PI + e_right, HALF_PI - e_left


class _Pose:
    """Per-frame angle buffer with helpers for whole-body moves (torso lean, head tilt)."""

    def __init__(self, num_frames: int) -> None:
        self.a = np.tile(REST_ANGLES, (num_frames, 1))

    def arms(self, upper_r, fore_r, upper_l=None, fore_l=None) -> None:
        """Arm elevations (outward from hanging) for upper arms and forearms; left mirrors right."""
        self.a[:, R_UPPER_ARM], self.a[:, L_UPPER_ARM] = _side(upper_r, upper_l)
        self.a[:, R_FOREARM], self.a[:, L_FOREARM] = _side(fore_r, fore_l)

    def legs(self, thigh_r, shin_r, thigh_l=None, shin_l=None) -> None:
        self.a[:, R_THIGH], self.a[:, L_THIGH] = _side(thigh_r, thigh_l)
        self.a[:, R_SHIN], self.a[:, L_SHIN] = _side(shin_r, shin_l)

    def lean(self, angle) -> None:
        """Rotate torso, arms and head about the neck (positive = clockwise on screen)."""
        for limb in (R_SHOULDER, L_SHOULDER, R_TORSO, L_TORSO, *ARM_LIMBS, *HEAD_LIMBS):
            self.a[:, limb] += angle

    def tilt(self, angle) -> None:
        for limb in HEAD_LIMBS:
            self.a[:, limb] += angle


def _wave(t, p, rng):
    pose = _Pose(len(t))
    swing = p["amp"] * 0.6 * np.sin(2 * np.pi * p["freq"] * 1.5 * t + p["phase"])
    # Right upper arm up and out, forearm pointing up and swinging side to side.
    pose.arms(np.full_like(t, 2.3), np.pi + swing, 0.15 + 0.05 * np.sin(t), 0.1)
    pose.tilt(0.1 * np.sin(2 * np.pi * p["freq"] * t))
    return pose.a, np.zeros((len(t), 2))


def _walk(t, p, rng):
    pose = _Pose(len(t))
    s = np.sin(2 * np.pi * p["freq"] * t + p["phase"])
    pose.legs(0.05 + 0.35 * p["amp"] * np.maximum(s, 0), -0.25 * p["amp"] * np.maximum(s, 0),
              0.05 + 0.35 * p["amp"] * np.maximum(-s, 0), -0.25 * p["amp"] * np.maximum(-s, 0))  # fmt: skip
    pose.arms(
        0.15 - 0.3 * p["amp"] * s,
        0.1 - 0.2 * p["amp"] * s,
        0.15 + 0.3 * p["amp"] * s,
        0.1 + 0.2 * p["amp"] * s,
    )
    pose.lean(0.04 * s)
    return pose.a, np.zeros((len(t), 2))


def _jump(t, p, rng):
    pose = _Pose(len(t))
    phase = 2 * np.pi * p["freq"] * 0.8 * t + p["phase"]
    air = np.maximum(np.sin(phase), 0.0)
    crouch = np.maximum(-np.sin(phase), 0.0)
    pose.legs(0.1 + 0.5 * crouch, -0.35 * crouch)
    pose.arms(0.3 + 2.4 * air * p["amp"], 0.3 + 2.6 * air * p["amp"])
    root = np.stack([np.zeros_like(t), 0.22 * p["amp"] * air], axis=1)
    return pose.a, root


def _squat(t, p, rng):
    pose = _Pose(len(t))
    depth = 0.5 - 0.5 * np.cos(2 * np.pi * p["freq"] * 0.6 * t + p["phase"])
    pose.legs(0.15 + 0.75 * depth * p["amp"], -0.6 * depth * p["amp"])
    pose.arms(0.2 + 1.3 * depth, 0.2 + 1.4 * depth)
    return pose.a, np.zeros((len(t), 2))


def _clap(t, p, rng):
    pose = _Pose(len(t))
    closed = (0.5 + 0.5 * np.sin(2 * np.pi * p["freq"] * 1.6 * t + p["phase"])) * p["amp"]
    # Upper arms out and down; forearms swing from pointing up-out to pointing in at the midline.
    pose.arms(np.full_like(t, 0.9), np.full_like(t, 0.9))
    pose.a[:, R_FOREARM] = -2.0 + 1.6 * closed
    pose.a[:, L_FOREARM] = np.pi - pose.a[:, R_FOREARM]
    return pose.a, np.zeros((len(t), 2))


def _arm_circles(t, p, rng):
    pose = _Pose(len(t))
    e = 0.3 + 2 * np.pi * p["freq"] * 0.7 * t + p["phase"]
    pose.arms(e, e + 0.1)
    pose.legs(np.full_like(t, 0.18), np.full_like(t, -0.05))
    return pose.a, np.zeros((len(t), 2))


def _bow(t, p, rng):
    pose = _Pose(len(t))
    depth = np.clip(1.6 * np.sin(np.pi * np.clip(p["freq"] * 0.5 * t + 0.05, 0, 1)), 0, 1) * p["amp"]
    pose.lean(-0.45 * depth)
    pose.tilt(-0.3 * depth)
    pose.arms(0.15 + 1.4 * depth, 0.15 + 2.2 * depth, 0.2 + 0.3 * depth, 0.1)
    pose.legs(0.05 + 0.2 * depth, -0.1 * depth, 0.0 - 0.3 * depth, 0.05)
    return pose.a, np.stack([0.03 * depth, np.zeros_like(t)], axis=1)


def _kick(t, p, rng):
    pose = _Pose(len(t))
    k = np.maximum(np.sin(2 * np.pi * p["freq"] * 0.8 * t + p["phase"]), 0.0) ** 1.5 * p["amp"]
    pose.legs(0.05 + 1.3 * k, 0.05 + 1.5 * k, 0.05, 0.0)
    pose.arms(1.2 + 0.3 * k, 1.3 + 0.3 * k)
    pose.lean(0.25 * k)
    return pose.a, np.zeros((len(t), 2))


def _sway(t, p, rng):
    pose = _Pose(len(t))
    s = np.sin(2 * np.pi * p["freq"] * 0.7 * t + p["phase"]) * p["amp"]
    pose.lean(0.22 * s)
    pose.tilt(0.12 * s)
    pose.legs(0.08 + 0.12 * s, -0.02 - 0.1 * s, 0.08 - 0.12 * s, -0.02 + 0.1 * s)
    return pose.a, np.stack([0.04 * s, np.zeros_like(t)], axis=1)


def _dance_disco(t, p, rng):
    pose = _Pose(len(t))
    s = np.sin(2 * np.pi * p["freq"] * t + p["phase"])
    up = 0.5 + 0.5 * s
    # Right arm points up-out, then down across the body; left hand on the hip.
    pose.arms(
        0.4 + 2.3 * up * p["amp"], 0.45 + 2.4 * up * p["amp"], np.full_like(t, 0.9), np.full_like(t, -0.9)
    )
    pose.lean(0.12 * s)
    pose.legs(0.1 - 0.15 * s, 0.05, 0.1 + 0.15 * s, 0.05)
    return pose.a, np.stack([0.02 * s, np.zeros_like(t)], axis=1)


def _dance_bounce(t, p, rng):
    pose = _Pose(len(t))
    beat = 2 * np.pi * p["freq"] * 1.4 * t + p["phase"]
    bend = 0.5 - 0.5 * np.cos(2 * beat)
    pump = np.sin(beat)
    pose.legs(0.15 + 0.35 * bend * p["amp"], -0.3 * bend * p["amp"])
    pose.arms(1.3 + 0.9 * pump, 2.6 + 0.6 * pump, 1.3 - 0.9 * pump, 2.6 - 0.6 * pump)
    pose.tilt(0.15 * pump)
    return pose.a, np.zeros((len(t), 2))


def _dance_twist(t, p, rng):
    pose = _Pose(len(t))
    s = np.sin(2 * np.pi * p["freq"] * 1.2 * t + p["phase"]) * p["amp"]
    pose.legs(0.2 + 0.3 * s, -0.2 - 0.3 * s, 0.2 - 0.3 * s, -0.2 + 0.3 * s)
    pose.arms(0.7 + 0.5 * s, 2.0 + 0.6 * s, 0.7 - 0.5 * s, 2.0 - 0.6 * s)
    pose.lean(0.1 * s)
    return pose.a, np.stack([0.03 * s, np.zeros_like(t)], axis=1)


def _jumping_jacks(t, p, rng):
    pose = _Pose(len(t))
    open_ = 0.5 - 0.5 * np.cos(2 * np.pi * p["freq"] * 0.9 * t + p["phase"])
    pose.arms(0.15 + 2.7 * open_ * p["amp"], 0.1 + 2.9 * open_ * p["amp"])
    pose.legs(0.03 + 0.35 * open_, -0.05 * open_)
    root = np.stack([np.zeros_like(t), 0.05 * np.sin(np.pi * open_) ** 2], axis=1)
    return pose.a, root


# name -> angle generator; every family is one short function above.
MOTION_FAMILIES: dict[str, Callable] = {
    "wave": _wave,
    "walk_in_place": _walk,
    "jump": _jump,
    "squat": _squat,
    "clap": _clap,
    "arm_circles": _arm_circles,
    "bow": _bow,
    "kick": _kick,
    "sway": _sway,
    "dance_disco": _dance_disco,
    "dance_bounce": _dance_bounce,
    "dance_twist": _dance_twist,
    "jumping_jacks": _jumping_jacks,
}

# Verb phrases for captions ("... is waving").
MOTION_VERBS: dict[str, str] = {
    "wave": "waving",
    "walk_in_place": "walking in place",
    "jump": "jumping",
    "squat": "doing squats",
    "clap": "clapping",
    "arm_circles": "swinging its arms in circles",
    "bow": "taking a bow",
    "kick": "kicking",
    "sway": "swaying from side to side",
    "dance_disco": "dancing disco",
    "dance_bounce": "dancing with a bounce",
    "dance_twist": "dancing the twist",
    "jumping_jacks": "doing jumping jacks",
}


def _smooth_noise(rng: np.random.Generator, num_frames: int, scale: float) -> np.ndarray:
    """(F, 17) low-frequency angle jitter: a few random sinusoids per limb."""
    t = np.arange(num_frames)[:, None, None]
    freq = rng.uniform(0.01, 0.06, (1, 17, 3))
    phase = rng.uniform(0, 2 * np.pi, (1, 17, 3))
    return scale * np.sin(2 * np.pi * freq * t + phase).sum(-1) / np.sqrt(3)


def mirror_angles(angles: np.ndarray) -> np.ndarray:
    """The left-right mirror image of a motion: reflect every direction and swap the sides."""
    return np.pi - angles[..., _LIMB_FLIP]


def sample_motion(family: str, num_frames: int, rng: np.random.Generator, fps: float = 16.0) -> Motion:
    """A random variant of `family`: tempo, amplitude, phase, mirroring and a little jitter."""
    if family not in MOTION_FAMILIES:
        raise AnimatexError(f"unknown motion family {family!r}; choose one of {sorted(MOTION_FAMILIES)}")
    if num_frames < 1:
        raise AnimatexError(f"num_frames must be at least 1, got {num_frames}")
    params = {
        "freq": float(rng.uniform(0.8, 1.25)),
        "amp": float(rng.uniform(0.75, 1.0)),
        "phase": float(rng.uniform(0, 2 * np.pi)),
        "mirror": bool(rng.random() < 0.5),
    }
    t = np.arange(num_frames) / fps
    angles, root = MOTION_FAMILIES[family](t, params, rng)
    angles = angles + _smooth_noise(rng, num_frames, 0.04)
    if params["mirror"]:
        angles = mirror_angles(angles)
        root = root * np.array([-1.0, 1.0])
    return Motion(family, np.asarray(angles, np.float64), np.asarray(root, np.float64), float(fps), params)
