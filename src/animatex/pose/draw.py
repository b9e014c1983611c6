"""Render keypoints as DWPose/OpenPose skeleton images (the DWPose annotator, github.com/IDEA-Research/DWPose), numpy + OpenCV only.

Conventions of the DWPose annotator that Animate-X++ was trained on: 17 body limbs as filled ellipses
in the 18 OpenPose colours dimmed to 60 %, joints as full-colour discs, hands as HSV-coloured bones
with blue dots, face as white dots (off by default: Animate-X++ draws without the face), feet off
(DWPose does not draw them). Sizes follow DWPose at its 512 px detection resolution and scale with the
short side of the canvas, so a skeleton drawn at 1024 px looks like one drawn at 512 px and resized.
"""

from __future__ import annotations

import colorsys

import cv2
import numpy as np

from animatex.errors import AnimatexError
from animatex.pose.sequence import PoseSequence, rescale_keypoints
from animatex.pose.skeleton import (
    BODY_COLORS,
    BODY_LIMBS,
    CONFIDENCE_THRESHOLD,
    FACE,
    FEET,
    FEET_PARENT,
    HAND_EDGES,
    LEFT_HAND,
    NUM_BODY,
    NUM_KEYPOINTS,
    RIGHT_HAND,
)

# DWPose multiplies the limb canvas by 0.6 (uint8 floor) before drawing the joints on top.
# Limb i takes colour i (17 limbs, the 18th colour is only used for a joint).
LIMB_COLORS: tuple[tuple[int, int, int], ...] = tuple(
    tuple(int(c * 0.6) for c in rgb) for rgb in BODY_COLORS[: len(BODY_LIMBS)]
)
HAND_EDGE_COLORS: tuple[tuple[int, int, int], ...] = tuple(
    tuple(int(c * 255) for c in colorsys.hsv_to_rgb(i / len(HAND_EDGES), 1.0, 1.0))
    for i in range(len(HAND_EDGES))
)
HAND_POINT_COLOR = (0, 0, 255)
FACE_POINT_COLOR = (255, 255, 255)
# Ours: feet (off by default) reuse the ankle's limb colour, so left/right stay distinguishable.
FEET_COLORS: tuple[tuple[int, int, int], ...] = tuple(LIMB_COLORS[11 if p == 13 else 8] for p in FEET_PARENT)

REFERENCE_SIZE = 512  # DWPose's detection resolution, at which stick width and radius are 4
STICK_WIDTH, JOINT_RADIUS, HAND_LINE_WIDTH, HAND_RADIUS, FACE_RADIUS = 4, 4, 2, 4, 3


def _scaled(size: int, width: int, height: int) -> int:
    return max(1, int(round(size * min(width, height) / REFERENCE_SIZE)))


def _visible(points: np.ndarray, threshold: float) -> np.ndarray:
    return (points[:, 2] >= threshold) & np.isfinite(points[:, :2]).all(axis=1)


def _draw_limb(canvas: np.ndarray, a: np.ndarray, b: np.ndarray, half_width: int, color: tuple) -> None:
    center = (int(round((a[0] + b[0]) / 2)), int(round((a[1] + b[1]) / 2)))
    length = float(np.hypot(a[0] - b[0], a[1] - b[1]))
    angle = int(round(np.degrees(np.arctan2(a[1] - b[1], a[0] - b[0]))))
    polygon = cv2.ellipse2Poly(center, (int(round(length / 2)), half_width), angle, 0, 360, 1)
    cv2.fillConvexPoly(canvas, polygon, color, lineType=cv2.LINE_8)


def _draw_frame(
    canvas: np.ndarray,
    points: np.ndarray,
    *,
    threshold: float,
    stick_width: int,
    radius: int,
    hand_width: int,
    hand_radius: int,
    face_radius: int,
    draw_body: bool,
    draw_feet: bool,
    draw_hands: bool,
    draw_face: bool,
) -> None:
    """Draw one frame of (134, 3) canvas-pixel keypoints into `canvas` (H, W, 3) uint8, in place."""
    visible = _visible(points, threshold)
    if not visible.any():
        return
    xy = np.round(np.where(visible[:, None], points[:, :2], 0)).astype(np.int64)
    if draw_body:
        for (p, c), color in zip(BODY_LIMBS, LIMB_COLORS, strict=True):
            if visible[p] and visible[c]:
                _draw_limb(canvas, points[p], points[c], stick_width, color)
    if draw_feet:
        for k, (parent, color) in enumerate(zip(FEET_PARENT, FEET_COLORS, strict=True)):
            j = FEET.start + k
            if visible[parent] and visible[j]:
                cv2.line(canvas, tuple(xy[parent]), tuple(xy[j]), color, hand_width, cv2.LINE_AA)
    if draw_body:
        for j in range(NUM_BODY):
            if visible[j]:
                cv2.circle(canvas, tuple(xy[j]), radius, BODY_COLORS[j], thickness=-1)
    if draw_hands:
        for hand in (LEFT_HAND, RIGHT_HAND):
            offset = hand.start
            for (p, c), color in zip(HAND_EDGES, HAND_EDGE_COLORS, strict=True):
                if visible[offset + p] and visible[offset + c]:
                    cv2.line(canvas, tuple(xy[offset + p]), tuple(xy[offset + c]), color, hand_width)
            for j in range(offset, hand.stop):
                if visible[j]:
                    cv2.circle(canvas, tuple(xy[j]), hand_radius, HAND_POINT_COLOR, thickness=-1)
    if draw_face:
        for j in range(FACE.start, FACE.stop):
            if visible[j]:
                cv2.circle(canvas, tuple(xy[j]), face_radius, FACE_POINT_COLOR, thickness=-1)


def _check_size(width: int | None, height: int | None) -> tuple[int, int]:
    if width is None or height is None:
        raise AnimatexError("draw_pose needs width and height for a raw keypoint array")
    if int(width) != width or int(height) != height or width < 1 or height < 1:
        raise AnimatexError(f"canvas size must be positive integers, got {width}x{height}")
    return int(width), int(height)


def _check_background(background: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray | None:
    if background is None:
        return None
    background = np.asarray(background)
    if background.dtype != np.uint8 or background.shape != shape:
        raise AnimatexError(
            f"background must be uint8 with shape {shape}, got {background.dtype} {background.shape}"
        )
    return background


def _style(width: int, height: int, stick_width: int | None, radius: int | None) -> dict[str, int]:
    return {
        "stick_width": stick_width if stick_width is not None else _scaled(STICK_WIDTH, width, height),
        "radius": radius if radius is not None else _scaled(JOINT_RADIUS, width, height),
        "hand_width": _scaled(HAND_LINE_WIDTH, width, height),
        "hand_radius": _scaled(HAND_RADIUS, width, height),
        "face_radius": _scaled(FACE_RADIUS, width, height),
    }


def draw_pose_video(
    seq: PoseSequence,
    width: int | None = None,
    height: int | None = None,
    *,
    threshold: float = CONFIDENCE_THRESHOLD,
    draw_body: bool = True,
    draw_feet: bool = False,
    draw_hands: bool = True,
    draw_face: bool = False,
    stick_width: int | None = None,
    radius: int | None = None,
    background: np.ndarray | None = None,
) -> np.ndarray:
    """Skeleton images (F, H, W, 3) uint8 RGB of a PoseSequence, on black or over `background` frames.

    The canvas defaults to the sequence's image size; another size rescales the keypoints. Stick width
    and joint radius default to DWPose's 4 px at 512 px, scaled with min(width, height).
    """
    if not isinstance(seq, PoseSequence):
        raise AnimatexError(f"draw_pose_video takes a PoseSequence, got {type(seq).__name__}")
    width = seq.width if width is None else width
    height = seq.height if height is None else height
    width, height = _check_size(width, height)
    shape = (len(seq), height, width, 3)
    background = _check_background(background, shape)
    canvas = np.zeros(shape, np.uint8) if background is None else background.copy()
    keypoints = rescale_keypoints(seq.keypoints, (seq.width, seq.height), (width, height))
    style = _style(width, height, stick_width, radius)
    flags = {"draw_body": draw_body, "draw_feet": draw_feet, "draw_hands": draw_hands, "draw_face": draw_face}
    for frame, points in zip(canvas, keypoints, strict=True):
        _draw_frame(frame, points, threshold=threshold, **style, **flags)
    return canvas


def draw_pose(
    pose: np.ndarray | PoseSequence,
    width: int | None = None,
    height: int | None = None,
    *,
    threshold: float = CONFIDENCE_THRESHOLD,
    draw_body: bool = True,
    draw_feet: bool = False,
    draw_hands: bool = True,
    draw_face: bool = False,
    stick_width: int | None = None,
    radius: int | None = None,
    background: np.ndarray | None = None,
) -> np.ndarray:
    """One skeleton image (H, W, 3) uint8 RGB from (134, 3) canvas-pixel keypoints or a 1-frame PoseSequence.

    A raw array is in the canvas's pixels and needs width and height; a PoseSequence is in its own image
    size and is rescaled to the canvas (which defaults to that size). Other arguments as `draw_pose_video`.
    """
    options = {
        "threshold": threshold,
        "draw_body": draw_body,
        "draw_feet": draw_feet,
        "draw_hands": draw_hands,
        "draw_face": draw_face,
        "stick_width": stick_width,
        "radius": radius,
    }
    if isinstance(pose, PoseSequence):
        if len(pose) != 1:
            raise AnimatexError(
                f"draw_pose draws one frame but got a PoseSequence of {len(pose)}; "
                "index it (seq[i]) or use draw_pose_video"
            )
        width = pose.width if width is None else width
        height = pose.height if height is None else height
        width, height = _check_size(width, height)
        bg = None if background is None else _check_background(background, (height, width, 3))[None]
        return draw_pose_video(pose, width, height, background=bg, **options)[0]
    width, height = _check_size(width, height)
    points = np.asarray(pose, dtype=np.float32)
    if points.shape != (NUM_KEYPOINTS, 3):
        raise AnimatexError(f"draw_pose keypoints must have shape ({NUM_KEYPOINTS}, 3), got {points.shape}")
    background = _check_background(background, (height, width, 3))
    canvas = np.zeros((height, width, 3), np.uint8) if background is None else background.copy()
    style = _style(width, height, stick_width, radius)
    _draw_frame(
        canvas,
        points,
        threshold=threshold,
        **style,
        draw_body=draw_body,
        draw_feet=draw_feet,
        draw_hands=draw_hands,
        draw_face=draw_face,
    )
    return canvas
