"""Retargeting a driving motion onto a reference character, and the bone rebuild that EPI shares.

`align` is the inference-time step users ask for most (the Animate-X and UniAnimate-DiT issue trackers): a driving skeleton
drawn as-is forces its human proportions onto a short-legged or big-headed character. `rebuild_skeleton`
is the one kinematic operation underneath both `align(mode="bones")` and the Explicit Pose Indicator
(`animatex.pose.epi`): keep every bone's absolute direction, give it a new length, and place the joints
again from the neck down the OpenPose tree. Feet, face and hands follow the joint they hang from.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from animatex.errors import AnimatexError
from animatex.pose.kinematics import ROOT, bone_lengths, bone_vectors
from animatex.pose.sequence import PoseSequence
from animatex.pose.skeleton import (
    BODY,
    BODY_INDEX,
    BODY_LIMBS,
    CONFIDENCE_THRESHOLD,
    FACE,
    FEET_PARENT,
    LEFT_HAND,
    NUM_BODY,
    RIGHT_HAND,
)

ALIGN_MODES: tuple[str, ...] = ("none", "global", "bones")
MIN_BONE_LENGTH = 1e-6  # pixels; a shorter bone has no direction


def limb_index(parent: str, child: str) -> int:
    """Index into `BODY_LIMBS` of the bone from joint `parent` to joint `child` (OpenPose names)."""
    return BODY_LIMBS.index((BODY_INDEX[parent], BODY_INDEX[child]))


@dataclass(frozen=True)
class _Group:
    """Non-body points that hang from one body joint and scale like some of its bones."""

    points: np.ndarray  # indices into the 134 keypoints
    attach: int  # body joint they move with
    limbs: tuple[int, ...]  # bones whose length ratio scales the group


def _indices(part: slice) -> np.ndarray:
    return np.arange(part.start, part.stop)


_FEET_START = BODY.stop
_GROUPS: tuple[_Group, ...] = (
    _Group(
        np.array([_FEET_START + i for i, p in enumerate(FEET_PARENT) if p == BODY_INDEX["left_ankle"]]),
        BODY_INDEX["left_ankle"],
        (limb_index("left_knee", "left_ankle"),),
    ),
    _Group(
        np.array([_FEET_START + i for i, p in enumerate(FEET_PARENT) if p == BODY_INDEX["right_ankle"]]),
        BODY_INDEX["right_ankle"],
        (limb_index("right_knee", "right_ankle"),),
    ),
    # The face scales with the eye and ear bones, so a bigger head gets a bigger face.
    _Group(
        _indices(FACE),
        BODY_INDEX["nose"],
        (
            limb_index("nose", "right_eye"),
            limb_index("right_eye", "right_ear"),
            limb_index("nose", "left_eye"),
            limb_index("left_eye", "left_ear"),
        ),
    ),
    _Group(_indices(LEFT_HAND), BODY_INDEX["left_wrist"], (limb_index("left_elbow", "left_wrist"),)),
    _Group(_indices(RIGHT_HAND), BODY_INDEX["right_wrist"], (limb_index("right_elbow", "right_wrist"),)),
)


# ---- the shared rebuild ------------------------------------------------------------------------


def rebuild_skeleton(
    keypoints: np.ndarray,
    lengths: np.ndarray,
    *,
    scale: float = 1.0,
    origin: np.ndarray | None = None,
    target_origin: np.ndarray | None = None,
    threshold: float = CONFIDENCE_THRESHOLD,
) -> np.ndarray:
    """Keypoints (F, 134, 3) with every visible bone given a new length and its direction kept.

    Args:
        keypoints: (F, 134, 3) pixel x, y and confidence.
        lengths: (F, 17) or (17,) new bone lengths in pixels; NaN keeps `scale` x the bone's own length.
        scale: the global size ratio, used for NaN lengths, the root motion, and points whose parent is
            invisible (they move rigidly with their nearest visible ancestor, offsets scaled).
        origin, target_origin: (2,) the global map is `x -> target_origin + scale * (x - origin)`; it
            places the neck (the root) and anything with no visible ancestor. Both default to (0, 0).

    Confidences are untouched, so visibility is preserved. A bone whose parent and child are both
    visible keeps its exact direction; feet, face and hands follow their joint (ankle, nose, wrist),
    scaled by the length ratio of the shin, head or forearm bones.
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    num_frames = len(kp)
    xy, visible = kp[..., :2], kp[..., 2] >= threshold
    origin = np.zeros(2) if origin is None else np.asarray(origin, dtype=np.float64)
    target_origin = np.zeros(2) if target_origin is None else np.asarray(target_origin, dtype=np.float64)
    old = bone_lengths(xy[:, BODY])  # (F, 17)
    new_lengths = np.broadcast_to(np.asarray(lengths, dtype=np.float64), old.shape)
    new_lengths = np.where(np.isnan(new_lengths), scale * old, new_lengths)
    has_direction = old > MIN_BONE_LENGTH
    unit = bone_vectors(xy[:, BODY]) / np.where(has_direction, old, 1.0)[..., None]
    # atan2(0, 0) = 0: a zero-length bone points along +x, as `kinematics.bone_angles` says.
    unit[~has_direction] = (1.0, 0.0)

    # Everything starts at its globally mapped place; the body tree and the groups overwrite that.
    out = target_origin + scale * (xy - origin)
    # (F, 18, 2) old and new positions of each joint's nearest visible ancestor-or-self; a missing
    # root falls back to the origin pair, which is the global map itself.
    ancestor_old = np.empty((num_frames, NUM_BODY, 2))
    ancestor_new = np.empty((num_frames, NUM_BODY, 2))
    root_visible = visible[:, ROOT, None]
    ancestor_old[:, ROOT] = np.where(root_visible, xy[:, ROOT], origin)
    ancestor_new[:, ROOT] = np.where(root_visible, out[:, ROOT], target_origin)
    for limb, (parent, child) in enumerate(BODY_LIMBS):
        direct = out[:, parent] + unit[:, limb] * new_lengths[:, limb, None]
        rigid = ancestor_new[:, parent] + scale * (xy[:, child] - ancestor_old[:, parent])
        both = (visible[:, parent] & visible[:, child])[:, None]
        out[:, child] = np.where(both, direct, rigid)
        child_visible = visible[:, child, None]
        ancestor_old[:, child] = np.where(child_visible, xy[:, child], ancestor_old[:, parent])
        ancestor_new[:, child] = np.where(child_visible, out[:, child], ancestor_new[:, parent])

    for group in _GROUPS:
        limbs = list(group.limbs)
        parents = [BODY_LIMBS[k][0] for k in limbs]
        children = [BODY_LIMBS[k][1] for k in limbs]
        known = visible[:, parents] & visible[:, children] & has_direction[:, limbs]
        ratios = new_lengths[:, limbs] / np.where(known, old[:, limbs], 1.0)
        count = known.sum(axis=1)
        ratio = np.where(known, ratios, 0.0).sum(axis=1) / np.maximum(count, 1)
        ratio = np.where(visible[:, group.attach] & (count > 0), ratio, scale)[:, None, None]
        pivot_old = ancestor_old[:, group.attach, None]
        pivot_new = ancestor_new[:, group.attach, None]
        out[:, group.points] = pivot_new + ratio * (xy[:, group.points] - pivot_old)

    result = kp.copy()
    result[..., :2] = out
    return result.astype(np.float32)


# ---- measuring a body ----------------------------------------------------------------------------


def first_visible_frame(sequence: PoseSequence, threshold: float = CONFIDENCE_THRESHOLD) -> int | None:
    """Index of the first frame with any visible body joint, or None."""
    frames = np.flatnonzero(sequence.visible(threshold)[:, BODY].any(axis=1))
    return int(frames[0]) if len(frames) else None


def _bbox(points: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Centre (2,), height and diagonal of the box around (N, 2) points."""
    low, high = points.min(axis=0), points.max(axis=0)
    return (low + high) / 2, float(high[1] - low[1]), float(np.linalg.norm(high - low))


def global_transform(
    driving: PoseSequence, reference: PoseSequence, threshold: float = CONFIDENCE_THRESHOLD
) -> tuple[float, np.ndarray, np.ndarray]:
    """(scale, driving centre, reference centre): the map that puts the driving body on the reference's.

    Measured on the driving's first frame with a visible body and on the reference's one frame, over
    the body joints visible in both (so a half-body reference is not compared with a full-body
    driving frame); the scale matches bounding-box heights, or diagonals if a box is flat.
    """
    ref_visible = reference.visible(threshold)[0, BODY]
    if not ref_visible.any():
        raise AnimatexError(
            "the reference pose has no visible body keypoint; detect it on a clearer image or use mode='none'"
        )
    ref_body = reference.body[0, :, :2].astype(np.float64)
    start = first_visible_frame(driving, threshold)
    if start is None:  # nothing to measure: map image onto image
        ratio = reference.height / driving.height
        return (
            ratio,
            np.array([driving.width, driving.height]) / 2,
            np.array([reference.width, reference.height]) / 2,
        )
    drv_visible = driving.visible(threshold)[start, BODY]
    common = drv_visible & ref_visible
    if common.sum() < 2:
        drv_center, drv_h, drv_d = _bbox(driving.body[start, drv_visible, :2].astype(np.float64))
        ref_center, ref_h, ref_d = _bbox(ref_body[ref_visible])
    else:
        drv_center, drv_h, drv_d = _bbox(driving.body[start, common, :2].astype(np.float64))
        ref_center, ref_h, ref_d = _bbox(ref_body[common])
    if drv_h > 1.0 and ref_h > 1.0:
        scale = ref_h / drv_h
    elif drv_d > 1.0 and ref_d > 1.0:
        scale = ref_d / drv_d
    else:
        scale = reference.height / driving.height
    return scale, drv_center, ref_center


def root_origin(sequence: PoseSequence, threshold: float = CONFIDENCE_THRESHOLD) -> np.ndarray | None:
    """The neck in the first frame where it is visible, or None."""
    frames = np.flatnonzero(sequence.visible(threshold)[:, ROOT])
    return sequence.body[frames[0], ROOT, :2].astype(np.float64) if len(frames) else None


# ---- inference retargeting ----------------------------------------------------------------------


def align(
    driving: PoseSequence,
    reference: PoseSequence,
    mode: str = "bones",
    threshold: float = CONFIDENCE_THRESHOLD,
) -> PoseSequence:
    """Retarget a driving motion onto the reference character's pose (one frame), in its image size.

    Modes:
        none: no retargeting; coordinates are only resized from the driving image to the reference's.
        global: one scale + translation so the driving body's first-frame box height and centre land on
            the reference's.
        bones: every frame keeps the driving bone directions but takes the reference's bone lengths;
            the neck starts at the reference's neck and moves as the driving neck does, scaled. Bones the
            reference does not show keep their globally scaled driving length.
    """
    if mode not in ALIGN_MODES:
        raise AnimatexError(f"unknown align mode {mode!r}; choose one of {', '.join(ALIGN_MODES)}")
    if len(reference) != 1:
        raise AnimatexError(
            f"the reference pose must be a single frame, got {len(reference)}; pass e.g. reference[0]"
        )
    size = (reference.width, reference.height)
    if mode == "none":
        return driving.rescaled(*size)

    scale, drv_center, ref_center = global_transform(driving, reference, threshold)
    if mode == "global":
        keypoints = driving.keypoints.astype(np.float64)
        keypoints[..., :2] = ref_center + scale * (keypoints[..., :2] - drv_center)
        return PoseSequence(keypoints.astype(np.float32), *size, driving.fps)

    ref_lengths = bone_lengths(reference.body[0, :, :2])
    ref_visible = reference.visible(threshold)[0, BODY]
    known = np.array([ref_visible[p] and ref_visible[c] for p, c in BODY_LIMBS])
    lengths = np.where(known, ref_lengths, np.nan)
    origin = root_origin(driving, threshold)
    if origin is not None and ref_visible[ROOT]:
        target_origin = reference.body[0, ROOT, :2].astype(np.float64)
    else:  # no neck on one side: start wherever the global map puts the driving root
        origin = drv_center if origin is None else origin
        target_origin = ref_center + scale * (origin - drv_center)
    keypoints = rebuild_skeleton(
        driving.keypoints,
        lengths,
        scale=scale,
        origin=origin,
        target_origin=target_origin,
        threshold=threshold,
    )
    return PoseSequence(keypoints, *size, driving.fps)
