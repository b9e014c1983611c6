"""`PoseSequence`: whole-body keypoints of one person over the frames of a video."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from animatex.errors import AnimatexError
from animatex.io.atomic import atomic_output
from animatex.pose.skeleton import (
    BODY,
    CONFIDENCE_THRESHOLD,
    FACE,
    FEET,
    KEYPOINT_FLIP,
    LEFT_HAND,
    NUM_KEYPOINTS,
    RIGHT_HAND,
)

FORMAT_VERSION = 1
LAYOUT = "body18 feet6 face68 left_hand21 right_hand21; (x, y) in pixels, confidence in [0, 1]"


def rescale_keypoints(keypoints: np.ndarray, source: tuple[int, int], target: tuple[int, int]) -> np.ndarray:
    """(..., K, 2 or 3) pixel keypoints of a `source` (w, h) image moved to a `target` (w, h) image (a float32
    copy)."""
    out = np.array(keypoints, dtype=np.float32, copy=True)
    out[..., 0] *= target[0] / source[0]
    out[..., 1] *= target[1] / source[1]
    return out


@dataclass
class PoseSequence:
    """Keypoints (F, 134, 3) as (x, y, confidence), x/y in pixels of a `width` x `height` image.

    A point with confidence below the detection threshold (0.3) counts as invisible; its x, y are
    meaningless. The 134 points follow `animatex.pose.skeleton` (body | feet | face | hands).
    """

    keypoints: np.ndarray
    width: int
    height: int
    fps: float = 16.0

    def __post_init__(self) -> None:
        kp = np.asarray(self.keypoints, dtype=np.float32)
        if kp.ndim != 3 or kp.shape[1:] != (NUM_KEYPOINTS, 3):
            raise AnimatexError(
                f"PoseSequence keypoints must have shape (frames, {NUM_KEYPOINTS}, 3), got {kp.shape}"
            )
        if self.width <= 0 or self.height <= 0:
            raise AnimatexError(f"PoseSequence image size must be positive, got {self.width}x{self.height}")
        if not self.fps > 0:
            raise AnimatexError(f"PoseSequence fps must be positive, got {self.fps}")
        self.keypoints = kp
        self.width, self.height, self.fps = int(self.width), int(self.height), float(self.fps)

    # ---- construction -------------------------------------------------------------------------
    @classmethod
    def empty(cls, num_frames: int, width: int, height: int, fps: float = 16.0) -> PoseSequence:
        """All points invisible."""
        return cls(np.zeros((num_frames, NUM_KEYPOINTS, 3), np.float32), width, height, fps)

    @classmethod
    def from_body(cls, body: np.ndarray, width: int, height: int, fps: float = 16.0) -> PoseSequence:
        """From (F, 18, 2) pixel positions (all visible) or (F, 18, 3) with confidences."""
        body = np.asarray(body, dtype=np.float32)
        if body.ndim != 3 or body.shape[1] != 18 or body.shape[2] not in (2, 3):
            raise AnimatexError(f"body keypoints must have shape (frames, 18, 2|3), got {body.shape}")
        seq = cls.empty(len(body), width, height, fps)
        seq.keypoints[:, BODY, : body.shape[2]] = body
        if body.shape[2] == 2:
            seq.keypoints[:, BODY, 2] = 1.0
        return seq

    # ---- views --------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.keypoints)

    def __getitem__(self, index: int | slice | np.ndarray) -> PoseSequence:
        """Frames by index, slice or index array; always a PoseSequence (an int gives one frame)."""
        if isinstance(index, (int, np.integer)):
            index = slice(int(index), int(index) + 1 if int(index) != -1 else None)
        return PoseSequence(self.keypoints[index].copy(), self.width, self.height, self.fps)

    @property
    def body(self) -> np.ndarray:
        return self.keypoints[:, BODY]

    @property
    def feet(self) -> np.ndarray:
        return self.keypoints[:, FEET]

    @property
    def face(self) -> np.ndarray:
        return self.keypoints[:, FACE]

    @property
    def hands(self) -> np.ndarray:
        """(F, 2, 21, 3): left hand, right hand."""
        return np.stack([self.keypoints[:, LEFT_HAND], self.keypoints[:, RIGHT_HAND]], axis=1)

    def visible(self, threshold: float = CONFIDENCE_THRESHOLD) -> np.ndarray:
        """(F, 134) bool."""
        return self.keypoints[..., 2] >= threshold

    def normalized(self) -> np.ndarray:
        """(F, 134, 3) with x / width, y / height in 0..1 and the confidence unchanged."""
        out = self.keypoints.copy()
        out[..., 0] /= self.width
        out[..., 1] /= self.height
        return out

    def body_normalized(self, threshold: float = CONFIDENCE_THRESHOLD) -> np.ndarray:
        """(F, 18, 2) body points in 0..1, invisible points -1: the IPI keypoint input."""
        xy = self.normalized()[:, BODY, :2]
        xy[~self.visible(threshold)[:, BODY]] = -1.0
        return xy

    # ---- transforms ---------------------------------------------------------------------------
    def resample(self, fps: float) -> PoseSequence:
        """The same motion at another frame rate (nearest source frame in time, no interpolation)."""
        if not fps > 0:
            raise AnimatexError(f"fps must be positive, got {fps}")
        duration = len(self) / self.fps
        count = max(1, int(round(duration * fps)))
        source = np.minimum(np.floor(np.arange(count) * self.fps / fps + 1e-6).astype(int), len(self) - 1)
        return PoseSequence(self.keypoints[source].copy(), self.width, self.height, fps)

    def rescaled(self, width: int, height: int) -> PoseSequence:
        """The same poses in a width x height image: x and y scaled by the size ratios."""
        keypoints = rescale_keypoints(self.keypoints, (self.width, self.height), (width, height))
        return PoseSequence(keypoints, width, height, self.fps)

    def mirrored(self) -> PoseSequence:
        """The left-right mirror image: x -> width - 1 - x (pixel centres map onto pixel centres) and every
        left point renamed right and vice versa, so the mirrored figure's right arm is still called right."""
        keypoints = self.keypoints[:, list(KEYPOINT_FLIP)].copy()
        keypoints[..., 0] = self.width - 1 - keypoints[..., 0]
        return PoseSequence(keypoints, self.width, self.height, self.fps)

    # ---- files --------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write an .npz (layout in docs/pose.md)."""
        path = Path(path)
        if path.suffix != ".npz":
            raise AnimatexError(f"pose files are .npz, got {path}")
        with atomic_output(path) as tmp:
            np.savez_compressed(
                tmp,
                keypoints=self.keypoints,
                image_size=np.array([self.width, self.height], np.int64),
                fps=np.array(self.fps, np.float64),
                format_version=np.array(FORMAT_VERSION),
                layout=np.array(LAYOUT),
            )
        return path

    @classmethod
    def load(cls, path: str | Path) -> PoseSequence:
        path = Path(path)
        if not path.is_file():
            raise AnimatexError(f"pose file not found: {path}")
        try:
            with np.load(path, allow_pickle=False) as data:
                width, height = (int(v) for v in data["image_size"])
                keypoints, fps = np.asarray(data["keypoints"]), float(data["fps"])
        except (KeyError, ValueError, TypeError, OSError, EOFError) as error:
            raise AnimatexError(
                f"{path} is not an animatex pose file ({str(error).strip() or type(error).__name__}); "
                "make one with animatex pose extract"
            ) from error
        if keypoints.ndim == 3 and len(keypoints) == 0:
            raise AnimatexError(f"pose file {path} has no frames; extract the poses again")
        if np.issubdtype(keypoints.dtype, np.number) and not np.isfinite(keypoints).all():
            bad = np.flatnonzero(~np.isfinite(keypoints).reshape(len(keypoints), -1).all(axis=1))
            raise AnimatexError(
                f"pose file {path} has NaN or infinite keypoints in {len(bad)} frame(s) (first: frame "
                f"{bad[0]}); extract the poses again or mark missing points with confidence 0"
            )
        if not (np.isfinite(fps) and fps > 0):
            raise AnimatexError(f"pose file {path} has frame rate {fps}; it must be a positive number")
        try:
            return cls(keypoints, width, height, fps)
        except AnimatexError as error:
            raise AnimatexError(f"pose file {path}: {error}") from error
