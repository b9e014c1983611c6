"""The detector interface and `extract_poses`: frames -> one tracked, smoothed `PoseSequence`."""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

import numpy as np

from animatex.errors import AnimatexError
from animatex.io.image import resize_frames
from animatex.pose.sequence import PoseSequence, rescale_keypoints
from animatex.pose.tracking import one_euro_smooth, select_main_person

BACKENDS: tuple[str, ...] = ("mediapipe", "dwpose")
Backend = Literal["mediapipe", "dwpose"]


@runtime_checkable
class Detector(Protocol):
    """Finds every person in an image."""

    def detect(self, image: np.ndarray) -> np.ndarray:
        """RGB uint8 (H, W, 3) -> (P, 134, 3): x, y in pixels, confidence in [0, 1]; P may be 0."""
        ...


def make_detector(
    backend: Backend = "mediapipe", dwpose_dir: str | Path | None = None, *, video: bool = True
) -> Detector:
    """A detector by backend name; `video` lets a backend that can (mediapipe) track between calls."""
    if backend == "mediapipe":
        if dwpose_dir is not None:
            raise AnimatexError("--dwpose-dir only applies to the dwpose backend")
        from animatex.pose.mediapipe_backend import MediaPipeDetector

        return MediaPipeDetector(static_image_mode=not video)
    if backend == "dwpose":
        if dwpose_dir is None:
            raise AnimatexError(
                "the dwpose backend needs the folder holding the DWPose ONNX files "
                "(yolox_l + dw-ll_ucoco_384): pass dwpose_dir / --dwpose-dir DIR"
            )
        # Imported lazily: onnxruntime and the model files are needed only for this backend.
        from animatex.pose.dwpose import DWPoseDetector

        return DWPoseDetector(dwpose_dir)
    raise AnimatexError(f"unknown pose backend {backend!r}; choose one of {', '.join(BACKENDS)}")


def _as_frames(frames: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
    if isinstance(frames, np.ndarray) and frames.ndim != 4:
        raise AnimatexError(f"extract_poses needs frames (F, H, W, 3), got an array of shape {frames.shape}")
    frames = list(frames)
    if not frames:
        raise AnimatexError("extract_poses needs at least one frame")
    shape = np.shape(frames[0])
    for f, frame in enumerate(frames):
        if (
            np.asarray(frame).dtype != np.uint8
            or np.ndim(frame) != 3
            or np.shape(frame) != shape
            or shape[2] != 3
        ):
            raise AnimatexError(
                f"frame {f}: extract_poses needs RGB uint8 frames of one size (H, W, 3), "
                f"got {np.asarray(frame).dtype} {np.shape(frame)} (first frame {shape})"
            )
    return frames


def _close(detector: object) -> None:
    close = getattr(detector, "close", None)
    if callable(close):
        close()


# Long side the detector sees: 1280x720 frames detect ~2x faster at 640 px (docs/benchmarks.md).
DETECTION_MAX_SIDE = 640


def _detect_scaled(detector: Detector, frame: np.ndarray, scale: float) -> np.ndarray:
    """`detector.detect` on `frame` resized by `scale` (<= 1), keypoints back in the frame's pixels."""
    if scale >= 1.0:
        return np.asarray(detector.detect(frame), np.float32)
    height, width = frame.shape[:2]
    small = resize_frames(frame, max(1, round(width * scale)), max(1, round(height * scale)))
    found = np.asarray(detector.detect(small), np.float32)
    return rescale_keypoints(found, (small.shape[1], small.shape[0]), (width, height))


def extract_poses(
    frames: np.ndarray | Sequence[np.ndarray],
    fps: float,
    backend: Backend = "mediapipe",
    dwpose_dir: str | Path | None = None,
    track: bool = True,
    smooth: bool = True,
    progress: bool = True,
    *,
    detector: Detector | None = None,
    name: str = "the video",
    max_side: int | None = DETECTION_MAX_SIDE,
) -> PoseSequence:
    """The main person's whole-body keypoints in every frame, as a PoseSequence at `fps`.

    Runs the detector frame by frame, keeps one person (the most prominent first, then with `track` the
    nearest to the previous pick; see `animatex.pose.tracking`), and One-Euro-smooths visible points when
    `smooth`. Frames where nobody is found get invisible keypoints and one warning lists them; nobody in
    any frame raises AnimatexError. `detector` overrides `backend` (it is not closed afterwards). Frames
    larger than `max_side` pixels on their long side are detected on a downscaled copy (the detectors look at
    256-640 px crops anyway) and the keypoints scaled back to the frame's pixels; None detects at full size.
    """
    frames = _as_frames(frames)
    if not (isinstance(fps, numbers.Real) and np.isfinite(fps) and fps > 0):
        raise AnimatexError(f"fps must be a positive number, got {fps!r}")
    height, width = frames[0].shape[:2]
    own = detector is None
    if own:
        detector = make_detector(backend, dwpose_dir, video=len(frames) > 1)
    elif not isinstance(detector, Detector):
        raise AnimatexError(f"detector must have a detect(image) method, got {type(detector).__name__}")
    try:
        iterator = frames
        if progress:
            from tqdm.auto import tqdm

            iterator = tqdm(
                frames, desc=f"pose ({backend if own else type(detector).__name__})", unit="frame"
            )
        scale = 1.0 if max_side is None else min(1.0, max_side / max(width, height))
        detections = [_detect_scaled(detector, frame, scale) for frame in iterator]
    finally:
        if own:
            _close(detector)
    keypoints, found = select_main_person(detections, width, height, track=track)
    if not found.any():
        raise AnimatexError(
            f"no person found in {name} ({len(frames)} frame(s), {width}x{height}); the pose detector needs a "
            "clearly visible person (head and shoulders at least): try another video or the dwpose backend"
        )
    missing = np.flatnonzero(~found)
    if len(missing):
        listed = ", ".join(str(i) for i in missing[:10]) + (", ..." if len(missing) > 10 else "")
        warnings.warn(
            f"no person found in {len(missing)} of {len(frames)} frames of {name} (frames {listed}); "
            "their keypoints are marked invisible",
            stacklevel=2,
        )
    if smooth and len(frames) > 1:
        keypoints = one_euro_smooth(keypoints, fps, scale=max(width, height))
    return PoseSequence(keypoints, width, height, fps)
