"""Baselines the bench compares the model against.

- `copy_reference`: the reference image repeated; no motion at all.
- `rigid_warp`: "impose the driving pose rigidly", the approach Animate-X argues against
  (the Animate-X paper, arXiv 2410.10306): every limb of the reference character is cut out around its bone and moved
  by the similarity transform that maps its reference bone onto the driving bone. A short-legged
  character driven by a human skeleton gets human-length legs: exactly the failure the Pose Indicator
  targets.
"""

from __future__ import annotations

import cv2
import numpy as np

from animatex.pose.sequence import PoseSequence
from animatex.pose.skeleton import BODY_LIMBS, CONFIDENCE_THRESHOLD

# Half-width of each limb's cut-out, as a fraction of its bone length (ours, picked by eye on OpenPose
# bodies): torso bones carry the trunk, the neck-nose bone the whole head, face bones the face.
_TORSO, _HEAD, _FACE, _LIMB = 0.3, 0.6, 0.5, 0.22
_LIMB_WIDTH: dict[tuple[int, int], float] = {
    (1, 2): _TORSO, (1, 5): _TORSO, (1, 8): _TORSO, (1, 11): _TORSO, (1, 0): _HEAD,
    (0, 14): _FACE, (14, 16): _FACE, (0, 15): _FACE, (15, 17): _FACE,
}  # fmt: skip
# No cut-out is narrower than this fraction of the median bone length (short face bones would vanish).
_MIN_WIDTH = 0.15
# The mask falls from 1 to 0 between the half-width and FEATHER times it: soft seams between limbs.
_FEATHER = 1.5


def copy_reference(reference: np.ndarray, num_frames: int) -> np.ndarray:
    """(num_frames, H, W, 3): the reference image (H, W, 3) in every frame, same dtype."""
    reference = np.asarray(reference)
    if reference.ndim != 3 or reference.shape[-1] != 3:
        raise ValueError(f"reference must have shape (height, width, 3), got {reference.shape}")
    if num_frames < 1:
        raise ValueError(f"num_frames must be at least 1, got {num_frames}")
    return np.repeat(reference[None], num_frames, axis=0)


def _as_uint8_image(image: np.ndarray, name: str) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"{name} must have shape (height, width, 3), got {image.shape}")
    if image.dtype == np.uint8:
        return image
    if np.issubdtype(image.dtype, np.floating):
        if image.min() < -1e-3 or image.max() > 1 + 1e-3:
            raise ValueError(f"float {name} must be in [0, 1]")
        return np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)
    raise ValueError(f"{name} must be uint8 or float in [0, 1], got dtype {image.dtype}")


def _body_in_pixels(pose: PoseSequence, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """(F, 18, 2) body positions rescaled to a width x height image, (F, 18) visibility."""
    body = pose.rescaled(width, height).body[..., :2].astype(np.float64)
    return body, pose.body[..., 2] >= CONFIDENCE_THRESHOLD


def _segment_distance(shape: tuple[int, int], a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(H, W) distance of every pixel centre to the segment a-b."""
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    direction = b - a
    t = ((xs - a[0]) * direction[0] + (ys - a[1]) * direction[1]) / max(direction @ direction, 1e-12)
    t = np.clip(t, 0.0, 1.0)
    return np.hypot(xs - (a[0] + t * direction[0]), ys - (a[1] + t * direction[1]))


def _similarity(a0: np.ndarray, b0: np.ndarray, a1: np.ndarray, b1: np.ndarray) -> np.ndarray:
    """2x3 matrix of the rotation + uniform scale + translation that maps segment a0-b0 onto a1-b1."""
    v0, v1 = b0 - a0, b1 - a1
    # As complex numbers, the map is z -> q z + t with q = v1 / v0.
    q = complex(*v1) / complex(*v0)
    rotation = np.array([[q.real, -q.imag], [q.imag, q.real]])
    return np.hstack([rotation, (a1 - rotation @ a0)[:, None]])


def rigid_warp(
    reference_image: np.ndarray,
    reference_pose: PoseSequence,
    driving_pose: PoseSequence,
    background: np.ndarray | None = None,
    reference_mask: np.ndarray | None = None,
) -> np.ndarray:
    """(F, H, W, 3) uint8: the reference character's limbs moved rigidly onto each driving skeleton.

    Args:
        reference_image: (H, W, 3) uint8 or float in [0, 1].
        reference_pose: the pose of the reference image (its first frame is used).
        driving_pose: F frames; positions are rescaled from its image size to the reference image size.
        background: (H, W, 3) scene behind the moved character. Default: the reference image with the
            character removed by inpainting (OpenCV Telea) where the limb cut-outs cover it.
        reference_mask: optional (H, W) bool character mask; limbs then carry only character pixels and
            the default background inpaints exactly the mask.

    Each of the 17 OpenPose limbs visible in both poses is cut out with a soft mask around its reference
    bone and moved by the similarity transform reference bone -> driving bone; the moved pieces are
    averaged where they overlap (weighted by their masks) and laid over the background.
    """
    image = _as_uint8_image(reference_image, "reference_image")
    height, width = image.shape[:2]
    if len(reference_pose) < 1 or len(driving_pose) < 1:
        raise ValueError("reference_pose and driving_pose need at least one frame each")
    if reference_mask is not None:
        reference_mask = np.asarray(reference_mask)
        if reference_mask.dtype != np.bool_ or reference_mask.shape != (height, width):
            raise ValueError(f"reference_mask must be a ({height}, {width}) bool array, got "
                             f"{reference_mask.dtype} {reference_mask.shape}")  # fmt: skip
    ref_body, ref_visible = _body_in_pixels(reference_pose[0], width, height)
    ref_body, ref_visible = ref_body[0], ref_visible[0]
    drv_body, drv_visible = _body_in_pixels(driving_pose, width, height)

    # 1. Cut-out masks around every usable reference bone.
    lengths = {limb: float(np.linalg.norm(ref_body[limb[1]] - ref_body[limb[0]])) for limb in BODY_LIMBS}
    usable = [limb for limb in BODY_LIMBS if ref_visible[list(limb)].all() and lengths[limb] >= 1.0]
    scale = float(np.median([lengths[limb] for limb in usable])) if usable else 0.0
    masks: dict[tuple[int, int], np.ndarray] = {}
    for limb in usable:
        half_width = max(_LIMB_WIDTH.get(limb, _LIMB) * lengths[limb], _MIN_WIDTH * scale, 1.0)
        distance = _segment_distance((height, width), ref_body[limb[0]], ref_body[limb[1]])
        mask = np.clip((_FEATHER * half_width - distance) / ((_FEATHER - 1) * half_width), 0.0, 1.0)
        masks[limb] = (mask * reference_mask if reference_mask is not None else mask).astype(np.float32)

    # 2. The scene behind the character.
    if background is None:
        if reference_mask is not None:
            hole = reference_mask
        else:
            hole = (
                np.any([m > 0 for m in masks.values()], axis=0) if masks else np.zeros((height, width), bool)
            )
        scene = cv2.inpaint(image, hole.astype(np.uint8), 5, cv2.INPAINT_TELEA) if hole.any() else image
    else:
        scene = _as_uint8_image(background, "background")
        if scene.shape != image.shape:
            raise ValueError(
                f"background must have the reference image's shape {image.shape}, got {scene.shape}"
            )
    scene = scene.astype(np.float32)

    # 3. Move the pieces, frame by frame.
    source = image.astype(np.float32)
    frames = np.empty((len(driving_pose), height, width, 3), np.uint8)
    for f in range(len(driving_pose)):
        colour_sum = np.zeros((height, width, 3), np.float32)
        weight_sum = np.zeros((height, width), np.float32)
        uncovered = np.ones((height, width), np.float32)
        for limb, mask in masks.items():
            if not drv_visible[f, list(limb)].all():
                continue
            matrix = _similarity(
                ref_body[limb[0]], ref_body[limb[1]], drv_body[f, limb[0]], drv_body[f, limb[1]]
            )
            piece = np.dstack([source * mask[..., None], mask])  # premultiplied colour + weight
            moved = cv2.warpAffine(piece, matrix, (width, height), flags=cv2.INTER_LINEAR, borderValue=0)
            colour_sum += moved[..., :3]
            weight_sum += moved[..., 3]
            uncovered *= 1.0 - np.clip(moved[..., 3], 0.0, 1.0)
        colour = colour_sum / np.maximum(weight_sum, 1e-6)[..., None]
        alpha = (1.0 - uncovered)[..., None]
        frames[f] = np.clip(np.round(alpha * colour + (1.0 - alpha) * scene), 0, 255).astype(np.uint8)
    return frames
