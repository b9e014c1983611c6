"""The Explicit Pose Indicator (EPI): training-time pose realignment and rescale (Animate-X, arXiv 2410.10306).

No EPI code was ever released; this is our design (docs/epi.md). Each training sample, with probability
lambda, the driving pose is (1) realigned onto the body shape of an anchor pose drawn from a pool of
training poses, then (2) passed through one random combination of rescale operations. The video target
is untouched, so the model learns to read motion from a skeleton whose proportions differ from the
character's instead of copying the skeleton's shape.

Every operation is a pure function `op(sequence, generator, **params) -> PoseSequence` (the k-diffusion
`sampling.py` pattern): it draws what it needs from a `numpy.random.Generator` unless the parameter is
given, so a seed makes everything reproducible.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from animatex.errors import AnimatexError
from animatex.pose.kinematics import ROOT, bone_angles, bone_lengths
from animatex.pose.retarget import (
    MIN_BONE_LENGTH,
    first_visible_frame,
    limb_index,
    rebuild_skeleton,
    root_origin,
)
from animatex.pose.sequence import PoseSequence
from animatex.pose.skeleton import (
    BODY,
    BODY_FLIP,
    BODY_INDEX,
    BODY_LIMBS,
    BODY_NAMES,
    CONFIDENCE_THRESHOLD,
    FACE,
    FEET_PARENT,
    LEFT_HAND,
    RIGHT_HAND,
)

# =================================================================================================
# Body parts
# =================================================================================================


def _limbs(*pairs: tuple[str, str]) -> tuple[int, ...]:
    return tuple(limb_index(parent, child) for parent, child in pairs)


# The bones each rescale operation stretches; left and right always by the same factor (ours: the
# characters EPI imitates are symmetric, and an asymmetric skeleton mostly teaches detection noise).
BODY_LIMB_GROUPS: dict[str, tuple[int, ...]] = {
    "body": _limbs(("neck", "right_hip"), ("neck", "left_hip")),
    "legs": _limbs(
        ("right_hip", "right_knee"),
        ("right_knee", "right_ankle"),
        ("left_hip", "left_knee"),
        ("left_knee", "left_ankle"),
    ),
    "arms": _limbs(
        ("right_shoulder", "right_elbow"),
        ("right_elbow", "right_wrist"),
        ("left_shoulder", "left_elbow"),
        ("left_elbow", "left_wrist"),
    ),
    "neck": _limbs(("neck", "nose")),
    "shoulders": _limbs(("neck", "right_shoulder"), ("neck", "left_shoulder")),
    # Eye and ear bones; the 68 face points follow them (see retarget._GROUPS).
    "face": _limbs(
        ("nose", "right_eye"), ("right_eye", "right_ear"), ("nose", "left_eye"), ("left_eye", "left_ear")
    ),
}


def _joints(*names: str) -> tuple[int, ...]:
    return tuple(BODY_INDEX[name] for name in names)


def _feet(ankle: str) -> tuple[int, ...]:
    return tuple(BODY.stop + i for i, p in enumerate(FEET_PARENT) if p == BODY_INDEX[ankle])


def _range(part: slice) -> tuple[int, ...]:
    return tuple(range(part.start, part.stop))


# Parts for add/drop. `drop_parts` hides the distal joints and whatever hangs from them (the shoulder or
# hip stays: it belongs to the torso); `add_parts` restores missing body joints of the chain, root side
# included, since an arm cannot be drawn without its shoulder.
PARTS: tuple[str, ...] = ("right_arm", "left_arm", "right_leg", "left_leg", "head")
_DROP_POINTS: dict[str, tuple[int, ...]] = {
    "right_arm": _joints("right_elbow", "right_wrist") + _range(RIGHT_HAND),
    "left_arm": _joints("left_elbow", "left_wrist") + _range(LEFT_HAND),
    "right_leg": _joints("right_knee", "right_ankle") + _feet("right_ankle"),
    "left_leg": _joints("left_knee", "left_ankle") + _feet("left_ankle"),
    "head": _joints("nose", "right_eye", "left_eye", "right_ear", "left_ear") + _range(FACE),
}
_ADD_JOINTS: dict[str, tuple[int, ...]] = {
    "right_arm": _joints("right_shoulder", "right_elbow", "right_wrist"),
    "left_arm": _joints("left_shoulder", "left_elbow", "left_wrist"),
    "right_leg": _joints("right_hip", "right_knee", "right_ankle"),
    "left_leg": _joints("left_hip", "left_knee", "left_ankle"),
    "head": _joints("nose", "right_eye", "left_eye", "right_ear", "left_ear"),
}

# Ours: a front-facing adult at rest, used by `add_parts` only for a bone the sequence never shows on
# either side. Lengths in units of the neck-hip distance, angles atan2(dy, dx) in image coordinates
# (y down); the person's right is the image's left.
_CANONICAL: dict[tuple[str, str], tuple[float, float]] = {
    ("neck", "right_shoulder"): (0.40, np.pi),
    ("neck", "left_shoulder"): (0.40, 0.0),
    ("right_shoulder", "right_elbow"): (0.55, np.pi / 2),
    ("right_elbow", "right_wrist"): (0.50, np.pi / 2),
    ("left_shoulder", "left_elbow"): (0.55, np.pi / 2),
    ("left_elbow", "left_wrist"): (0.50, np.pi / 2),
    ("neck", "right_hip"): (1.00, float(np.arctan2(1.0, -0.2))),
    ("right_hip", "right_knee"): (0.85, np.pi / 2),
    ("right_knee", "right_ankle"): (0.80, np.pi / 2),
    ("neck", "left_hip"): (1.00, float(np.arctan2(1.0, 0.2))),
    ("left_hip", "left_knee"): (0.85, np.pi / 2),
    ("left_knee", "left_ankle"): (0.80, np.pi / 2),
    ("neck", "nose"): (0.45, -np.pi / 2),
    ("nose", "right_eye"): (0.10, -3 * np.pi / 4),
    ("right_eye", "right_ear"): (0.15, float(np.arctan2(0.3, -1.0))),
    ("nose", "left_eye"): (0.10, -np.pi / 4),
    ("left_eye", "left_ear"): (0.15, float(np.arctan2(0.3, 1.0))),
}
_LIMB_NAMES = tuple((BODY_NAMES[p], BODY_NAMES[c]) for p, c in BODY_LIMBS)
_CANONICAL_LENGTH = np.array([_CANONICAL[pair][0] for pair in _LIMB_NAMES])
_CANONICAL_ANGLE = np.array([_CANONICAL[pair][1] for pair in _LIMB_NAMES])
# The bone a horizontal flip maps each bone to (left <-> right; the neck-nose bone onto itself).
_MIRROR = np.array([BODY_LIMBS.index((BODY_FLIP[p], BODY_FLIP[c])) for p, c in BODY_LIMBS])


def _visible_bones(body: np.ndarray, threshold: float) -> np.ndarray:
    """(F, 17) bool: both ends visible and a measurable length, from (F, 18, 3) body keypoints."""
    visible = body[..., 2] >= threshold
    parents = [p for p, _ in BODY_LIMBS]
    children = [c for _, c in BODY_LIMBS]
    return visible[:, parents] & visible[:, children] & (bone_lengths(body[..., :2]) > MIN_BONE_LENGTH)


def _median_lengths(body: np.ndarray, threshold: float) -> np.ndarray:
    """(17,) median length of each bone over the frames that show it, NaN where none does."""
    shown = _visible_bones(body, threshold)
    lengths = np.where(shown, bone_lengths(body[..., :2]), np.nan)
    out = np.full(len(BODY_LIMBS), np.nan)
    for limb in np.flatnonzero(shown.any(axis=0)):
        out[limb] = np.median(lengths[shown[:, limb], limb])
    return out


def _origin(sequence: PoseSequence, threshold: float) -> np.ndarray:
    """Where the root motion is measured from: the neck's first visible position, else a body centroid."""
    neck = root_origin(sequence, threshold)
    if neck is not None:
        return neck
    start = first_visible_frame(sequence, threshold)
    if start is None:
        return np.zeros(2)
    return sequence.body[start, sequence.visible(threshold)[start, BODY], :2].astype(np.float64).mean(axis=0)


def _check_generator(generator: np.random.Generator | None, what: str) -> np.random.Generator:
    if not isinstance(generator, np.random.Generator):
        raise AnimatexError(f"{what} needs a numpy.random.Generator, e.g. numpy.random.default_rng(0)")
    return generator


def _draw_scale(generator: np.random.Generator, scale_range: tuple[float, float]) -> float:
    """Log-uniform in the range, so x0.8 and x1.25 are equally likely."""
    low, high = scale_range
    return float(np.exp(generator.uniform(np.log(low), np.log(high))))


# =================================================================================================
# Pose realignment
# =================================================================================================


def realign(
    sequence: PoseSequence,
    anchor: PoseSequence,
    generator: np.random.Generator | None = None,
    threshold: float = CONFIDENCE_THRESHOLD,
) -> PoseSequence:
    """Pose realignment (Animate-X, arXiv 2410.10306): the anchor's bone lengths, the sequence's bone directions.

    The anchor is one frame. Its lengths are converted to the sequence's image by the ratio of image
    heights; bones the anchor does not show keep their own length times the overall size ratio (sum of
    the anchor's bone lengths over the sum of the sequence's median lengths, on the bones both show).
    The neck keeps its first position and moves as before, scaled by that ratio. Deterministic: the
    generator is accepted for the shared signature only.
    """
    del generator
    if len(anchor) != 1:
        raise AnimatexError(f"the anchor pose must be a single frame, got {len(anchor)}; pass e.g. anchor[0]")
    anchor_body = anchor.body.astype(np.float64)
    known = _visible_bones(anchor_body, threshold)[0]
    lengths = np.where(known, bone_lengths(anchor_body[0, :, :2]) * sequence.height / anchor.height, np.nan)
    own = _median_lengths(sequence.body.astype(np.float64), threshold)
    common = known & ~np.isnan(own)
    scale = float(lengths[common].sum() / own[common].sum()) if common.any() else 1.0
    origin = _origin(sequence, threshold)
    keypoints = rebuild_skeleton(
        sequence.keypoints, lengths, scale=scale, origin=origin, target_origin=origin, threshold=threshold
    )
    return PoseSequence(keypoints, sequence.width, sequence.height, sequence.fps)


# =================================================================================================
# Pose rescale: one function per operation, all with the signature op(sequence, generator, **params)
# =================================================================================================

# Ours (the paper publishes none): factors drawn log-uniformly from these ranges. Why each one is what
# it is: docs/epi.md.
DEFAULT_SCALE_RANGES: dict[str, tuple[float, float]] = {
    "body": (0.75, 1.3),
    "legs": (0.6, 1.3),
    "arms": (0.7, 1.3),
    "neck": (0.5, 1.6),
    "shoulders": (0.7, 1.5),
    "face": (0.8, 2.0),
}


def _rescale(
    sequence: PoseSequence,
    name: str,
    generator: np.random.Generator | None,
    scale: float | None,
    scale_range: tuple[float, float] | None,
) -> PoseSequence:
    if scale is None:
        generator = _check_generator(generator, f"rescale_{name} without scale=")
        scale = _draw_scale(generator, scale_range or DEFAULT_SCALE_RANGES[name])
    if not scale > 0:
        raise AnimatexError(f"rescale_{name}: scale must be positive, got {scale}")
    limbs = list(BODY_LIMB_GROUPS[name])
    lengths = np.full((len(sequence), len(BODY_LIMBS)), np.nan)
    lengths[:, limbs] = bone_lengths(sequence.body[..., :2].astype(np.float64))[:, limbs] * scale
    keypoints = rebuild_skeleton(sequence.keypoints, lengths)
    return PoseSequence(keypoints, sequence.width, sequence.height, sequence.fps)


def rescale_body(
    sequence: PoseSequence,
    generator: np.random.Generator | None = None,
    *,
    scale: float | None = None,
    scale_range: tuple[float, float] | None = None,
) -> PoseSequence:
    """Pose rescale, body length (Animate-X, arXiv 2410.10306): neck-hip bones; the legs move with the hips."""
    return _rescale(sequence, "body", generator, scale, scale_range)


def rescale_legs(
    sequence: PoseSequence,
    generator: np.random.Generator | None = None,
    *,
    scale: float | None = None,
    scale_range: tuple[float, float] | None = None,
) -> PoseSequence:
    """Pose rescale, legs (Animate-X, arXiv 2410.10306): thighs and shins; the feet scale with the shins."""
    return _rescale(sequence, "legs", generator, scale, scale_range)


def rescale_arms(
    sequence: PoseSequence,
    generator: np.random.Generator | None = None,
    *,
    scale: float | None = None,
    scale_range: tuple[float, float] | None = None,
) -> PoseSequence:
    """Pose rescale, arms (Animate-X, arXiv 2410.10306): upper arms and forearms; the hands scale along."""
    return _rescale(sequence, "arms", generator, scale, scale_range)


def rescale_neck(
    sequence: PoseSequence,
    generator: np.random.Generator | None = None,
    *,
    scale: float | None = None,
    scale_range: tuple[float, float] | None = None,
) -> PoseSequence:
    """Pose rescale, neck (Animate-X, arXiv 2410.10306): the neck-nose bone; the whole head moves with it."""
    return _rescale(sequence, "neck", generator, scale, scale_range)


def rescale_shoulders(
    sequence: PoseSequence,
    generator: np.random.Generator | None = None,
    *,
    scale: float | None = None,
    scale_range: tuple[float, float] | None = None,
) -> PoseSequence:
    """Pose rescale, shoulder width (Animate-X, arXiv 2410.10306): neck-shoulder bones; the arms move along."""
    return _rescale(sequence, "shoulders", generator, scale, scale_range)


def rescale_face(
    sequence: PoseSequence,
    generator: np.random.Generator | None = None,
    *,
    scale: float | None = None,
    scale_range: tuple[float, float] | None = None,
) -> PoseSequence:
    """Pose rescale, face size (Animate-X, arXiv 2410.10306): eye and ear bones and the 68 face points."""
    return _rescale(sequence, "face", generator, scale, scale_range)


def _check_parts(parts: Iterable[str], what: str) -> list[str]:
    parts = list(parts)
    unknown = [part for part in parts if part not in PARTS]
    if unknown:
        raise AnimatexError(f"{what}: unknown body part(s) {unknown}; choose from {', '.join(PARTS)}")
    return parts


def _draw_parts(generator: np.random.Generator, candidates: list[str], max_parts: int) -> list[str]:
    if not candidates or max_parts < 1:
        return []
    count = int(generator.integers(1, min(max_parts, len(candidates)) + 1))
    chosen = generator.choice(len(candidates), size=count, replace=False)
    return [candidates[i] for i in sorted(chosen)]


def droppable_parts(sequence: PoseSequence, threshold: float = CONFIDENCE_THRESHOLD) -> list[str]:
    """The parts with at least one visible point (dropping the others would change nothing)."""
    visible = sequence.visible(threshold)
    return [part for part in PARTS if visible[:, list(_DROP_POINTS[part])].any()]


def addable_parts(sequence: PoseSequence, threshold: float = CONFIDENCE_THRESHOLD) -> list[str]:
    """The parts with a missing body joint in some frame whose neck is visible (so it can be attached)."""
    visible = sequence.visible(threshold)[:, BODY]
    with_root = visible[:, ROOT]
    return [part for part in PARTS if (~visible[with_root][:, list(_ADD_JOINTS[part])]).any()]


def drop_parts(
    sequence: PoseSequence,
    generator: np.random.Generator | None = None,
    *,
    parts: Iterable[str] | None = None,
    max_parts: int = 2,
) -> PoseSequence:
    """Pose rescale, drop body parts (Animate-X, arXiv 2410.10306): hide a limb or the head in every frame.

    A dropped arm or leg loses its elbow/knee, wrist/ankle and hand/foot points; a dropped head its
    nose, eyes, ears and face. Without `parts`, 1..max_parts of the visible parts are drawn.
    """
    if parts is None:
        generator = _check_generator(generator, "drop_parts without parts=")
        parts = _draw_parts(generator, droppable_parts(sequence), max_parts)
    points = [i for part in _check_parts(parts, "drop_parts") for i in _DROP_POINTS[part]]
    keypoints = sequence.keypoints.copy()
    keypoints[:, points, 2] = 0.0
    return PoseSequence(keypoints, sequence.width, sequence.height, sequence.fps)


def _nearest(frames: np.ndarray, count: int) -> np.ndarray:
    """(count,) for every frame index, the nearest index in the sorted, non-empty `frames`."""
    t = np.arange(count)
    right = np.clip(np.searchsorted(frames, t), 0, len(frames) - 1)
    left = np.clip(right - 1, 0, len(frames) - 1)
    return np.where(np.abs(frames[left] - t) <= np.abs(frames[right] - t), frames[left], frames[right])


def add_parts(
    sequence: PoseSequence,
    generator: np.random.Generator | None = None,
    *,
    parts: Iterable[str] | None = None,
    max_parts: int = 1,
    threshold: float = CONFIDENCE_THRESHOLD,
) -> PoseSequence:
    """Pose rescale, add body parts (Animate-X, arXiv 2410.10306): draw missing joints of a limb or the head.

    Ours: "add" restores body joints the detector missed (occluded, out of frame, or a character
    without that limb), so the skeleton shows parts the video does not. Each missing bone takes its
    direction from the nearest frame that shows it, else the mirrored other side, else a front-facing
    rest pose; its length from the median of the frames that show it, else the other side, else rest
    proportions scaled to the body. Hand, foot and face points are not invented. Without `parts`,
    1..max_parts of the parts that miss something are drawn.
    """
    if parts is None:
        generator = _check_generator(generator, "add_parts without parts=")
        parts = _draw_parts(generator, addable_parts(sequence, threshold), max_parts)
    joints = {j for part in _check_parts(parts, "add_parts") for j in _ADD_JOINTS[part]}
    keypoints = sequence.keypoints.astype(np.float64)
    body = keypoints[:, BODY]  # a view: writing it writes keypoints
    num_frames = len(sequence)
    shown = _visible_bones(body, threshold)
    angles = bone_angles(body[..., :2])
    medians = _median_lengths(body, threshold)
    # One body size for rest proportions: every shown bone estimates it; else a quarter image height.
    estimates = bone_lengths(body[..., :2])[shown] / np.broadcast_to(_CANONICAL_LENGTH, shown.shape)[shown]
    unit = float(np.median(estimates)) if len(estimates) else sequence.height / 4
    for limb, (parent, child) in enumerate(BODY_LIMBS):
        if child not in joints:
            continue
        missing = (body[:, parent, 2] >= threshold) & (body[:, child, 2] < threshold)
        if not missing.any():
            continue
        mirror = _MIRROR[limb]
        if shown[:, limb].any():
            angle = angles[_nearest(np.flatnonzero(shown[:, limb]), num_frames), limb]
            length = medians[limb]
        elif shown[:, mirror].any():
            angle = np.pi - angles[_nearest(np.flatnonzero(shown[:, mirror]), num_frames), mirror]
            length = medians[mirror]
        else:
            angle = np.full(num_frames, _CANONICAL_ANGLE[limb])
            length = _CANONICAL_LENGTH[limb] * unit
        offset = length * np.stack([np.cos(angle), np.sin(angle)], axis=-1)
        body[missing, child, :2] = body[missing, parent, :2] + offset[missing]
        body[missing, child, 2] = 1.0
    return PoseSequence(keypoints.astype(np.float32), sequence.width, sequence.height, sequence.fps)


PoseOp = Callable[..., PoseSequence]
# Every rescale operation by name, in the order EPI applies them (the scale ops touch disjoint bones,
# so their order does not matter; adding goes before dropping so a part is never restored after it
# was dropped).
RESCALE_OPS: dict[str, PoseOp] = {
    "body": rescale_body,
    "legs": rescale_legs,
    "arms": rescale_arms,
    "neck": rescale_neck,
    "shoulders": rescale_shoulders,
    "face": rescale_face,
    "add_parts": add_parts,
    "drop_parts": drop_parts,
}
SCALE_OPS: tuple[str, ...] = tuple(BODY_LIMB_GROUPS)


# =================================================================================================
# The pose pool
# =================================================================================================


class PosePool:
    """Body poses (one frame each) from a training set, from which EPI draws realignment anchors.

    Args:
        sequences: the dataset's pose sequences.
        frames_per_sequence: evenly spaced frames kept per sequence (None: all); a body's proportions
            barely change within a clip, so a few frames per clip keep the pool diverse and small.
        min_visible_bones: frames showing fewer of the 17 bones are skipped (a bad anchor would make
            every realigned bone fall back to the sequence's own length).
    """

    def __init__(
        self,
        sequences: Iterable[PoseSequence],
        frames_per_sequence: int | None = 8,
        min_visible_bones: int = 12,
        threshold: float = CONFIDENCE_THRESHOLD,
    ) -> None:
        if frames_per_sequence is not None and frames_per_sequence < 1:
            raise AnimatexError(f"frames_per_sequence must be at least 1 or None, got {frames_per_sequence}")
        bodies, sizes = [], []
        for sequence in sequences:
            good = np.flatnonzero(_visible_bones(sequence.body, threshold).sum(axis=1) >= min_visible_bones)
            if frames_per_sequence is not None and len(good) > frames_per_sequence:
                good = good[np.linspace(0, len(good) - 1, frames_per_sequence).round().astype(int)]
            bodies.append(sequence.body[good])
            sizes.append(np.tile([sequence.width, sequence.height], (len(good), 1)))
        if not bodies or not sum(len(b) for b in bodies):
            raise AnimatexError(
                f"the pose pool is empty: no frame shows {min_visible_bones} of the 17 bones; "
                "pass more sequences or lower min_visible_bones"
            )
        self.bodies = np.concatenate(bodies).astype(np.float32)  # (N, 18, 3)
        self.sizes = np.concatenate(sizes).astype(np.int64)  # (N, 2) width, height

    @classmethod
    def from_folder(cls, root: str | Path, filename: str = "poses.npz", **kwargs: Any) -> PosePool:
        """From every `filename` under `root` (recursively, in sorted order)."""
        root = Path(root)
        if not root.is_dir():
            raise AnimatexError(f"pose pool folder not found: {root}")
        paths = sorted(root.rglob(filename))
        if not paths:
            raise AnimatexError(f"no {filename} under {root}; point at a prepared dataset folder")
        return cls((PoseSequence.load(path) for path in paths), **kwargs)

    def __len__(self) -> int:
        return len(self.bodies)

    def __getitem__(self, index: int) -> PoseSequence:
        """Anchor `index` as a one-frame PoseSequence in its own image size."""
        width, height = self.sizes[index]
        return PoseSequence.from_body(self.bodies[index : index + 1], int(width), int(height))

    def sample_index(self, generator: np.random.Generator) -> int:
        return int(_check_generator(generator, "PosePool.sample_index").integers(len(self)))

    def sample(self, generator: np.random.Generator) -> PoseSequence:
        """A uniformly drawn anchor pose (one frame)."""
        return self[self.sample_index(generator)]


# =================================================================================================
# EPI
# =================================================================================================


def _default_op_probabilities() -> dict[str, float]:
    # Ours: each scale op in about one sample in three (about two ops per sample on top of realignment);
    # adding and dropping parts change what the skeleton shows, not just its shape, so they are rarer.
    return {name: 0.35 for name in SCALE_OPS} | {"add_parts": 0.1, "drop_parts": 0.1}


@dataclass
class EPIConfig:
    """How the Explicit Pose Indicator transforms a training pose; defaults are ours, see docs/epi.md."""

    # lambda: the probability that a sample is transformed at all (v1: above 98 %; its sweep found
    # 100 % best on anthropomorphic data and 90-95 % on human TikTok data).
    probability: float = 0.98
    # Given a transformed sample, the probability of realignment onto a pool anchor (the ablation's
    # most important part, so always on by default).
    realign_probability: float = 1.0
    # Given a transformed sample, each rescale op's independent probability (keys of RESCALE_OPS).
    op_probabilities: dict[str, float] = field(default_factory=_default_op_probabilities)
    # Log-uniform factor ranges of the scale ops (keys of SCALE_OPS).
    scale_ranges: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(DEFAULT_SCALE_RANGES))
    # At most this many parts are added / dropped in one sample.
    max_add_parts: int = 1
    max_drop_parts: int = 2

    def __post_init__(self) -> None:
        for name, value in (
            ("probability", self.probability),
            ("realign_probability", self.realign_probability),
        ):
            if not 0.0 <= value <= 1.0:
                raise AnimatexError(f"EPIConfig.{name} must be in [0, 1], got {value}")
        unknown = set(self.op_probabilities) - set(RESCALE_OPS)
        if unknown:
            raise AnimatexError(
                f"EPIConfig.op_probabilities: unknown op(s) {sorted(unknown)}; choose from {', '.join(RESCALE_OPS)}"
            )
        for name, value in self.op_probabilities.items():
            if not 0.0 <= value <= 1.0:
                raise AnimatexError(f"EPIConfig.op_probabilities[{name!r}] must be in [0, 1], got {value}")
        unknown = set(self.scale_ranges) - set(SCALE_OPS)
        if unknown:
            raise AnimatexError(
                f"EPIConfig.scale_ranges: unknown op(s) {sorted(unknown)}; choose from {', '.join(SCALE_OPS)}"
            )
        self.scale_ranges = {name: tuple(float(v) for v in r) for name, r in self.scale_ranges.items()}
        for name, (low, high) in self.scale_ranges.items():
            if not 0.0 < low <= high:
                raise AnimatexError(
                    f"EPIConfig.scale_ranges[{name!r}] must satisfy 0 < low <= high, got {(low, high)}"
                )
        if self.max_add_parts < 0 or self.max_drop_parts < 0:
            raise AnimatexError("EPIConfig.max_add_parts and max_drop_parts must be >= 0")


@dataclass
class EPIRecord:
    """What `explicit_pose_indicator` did to one sample, for logs and counts."""

    applied: bool
    anchor: int | None = None  # pool index of the realignment anchor, None if not realigned
    ops: dict[str, dict[str, Any]] = field(default_factory=dict)  # op name -> the parameters it used

    @property
    def names(self) -> tuple[str, ...]:
        """Names of everything applied, "realign" first."""
        return (("realign",) if self.anchor is not None else ()) + tuple(self.ops)


def explicit_pose_indicator(
    sequence: PoseSequence,
    pool: PosePool | None,
    config: EPIConfig | None = None,
    generator: np.random.Generator | None = None,
) -> tuple[PoseSequence, EPIRecord]:
    """Explicit Pose Indicator (Animate-X, arXiv 2410.10306): realign + one rescale combination, with prob. lambda.

    With probability `config.probability` the pose is realigned onto an anchor drawn from `pool` (if
    given) and each op of `RESCALE_OPS` is applied with its own probability; otherwise the pose comes
    back unchanged. The same generator state always gives the same result.
    """
    generator = _check_generator(generator, "explicit_pose_indicator")
    config = EPIConfig() if config is None else config
    if generator.random() >= config.probability:
        return sequence[:], EPIRecord(applied=False)

    record = EPIRecord(applied=True)
    # Every Bernoulli is drawn whether or not its op can act, so one op's outcome never shifts the
    # random stream of the next (reproducible comparisons when one probability changes).
    if generator.random() < config.realign_probability and pool is not None:
        record.anchor = pool.sample_index(generator)
        sequence = realign(sequence, pool[record.anchor])
    for name in SCALE_OPS:
        if generator.random() < config.op_probabilities.get(name, 0.0):
            scale = _draw_scale(generator, config.scale_ranges.get(name, DEFAULT_SCALE_RANGES[name]))
            sequence = RESCALE_OPS[name](sequence, generator, scale=scale)
            record.ops[name] = {"scale": scale}
    added: list[str] = []
    if generator.random() < config.op_probabilities.get("add_parts", 0.0):
        added = _draw_parts(generator, addable_parts(sequence), config.max_add_parts)
        if added:
            sequence = add_parts(sequence, generator, parts=added)
            record.ops["add_parts"] = {"parts": added}
    if generator.random() < config.op_probabilities.get("drop_parts", 0.0):
        candidates = [part for part in droppable_parts(sequence) if part not in added]
        dropped = _draw_parts(generator, candidates, config.max_drop_parts)
        if dropped:
            sequence = drop_parts(sequence, generator, parts=dropped)
            record.ops["drop_parts"] = {"parts": dropped}
    if not record.ops and record.anchor is None:
        sequence = sequence[:]
    return sequence, record
