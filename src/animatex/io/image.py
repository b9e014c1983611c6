"""Single images as uint8 RGB arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from animatex.errors import AnimatexError
from animatex.io.atomic import atomic_output

IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


def to_rgb_uint8(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Any decoded image (gray, gray+alpha, RGB, RGBA; uint8/uint16/float in 0..1) as uint8 (H, W, 3).

    Alpha is composited over white: a character cut out on a transparent background should not end
    up on whatever colour the transparent pixels happen to store.
    """
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[2] not in (1, 2, 3, 4) or image.shape[0] == 0 or image.shape[1] == 0:
        raise AnimatexError(
            f"{name}: expected an (H, W), (H, W, 3) or (H, W, 4) image, got shape {image.shape}"
        )
    if image.dtype == np.uint8:
        data = image.astype(np.float32) / 255.0
    elif image.dtype == np.uint16:
        data = image.astype(np.float32) / 65535.0
    elif image.dtype == bool:
        data = image.astype(np.float32)
    elif np.issubdtype(image.dtype, np.floating):
        data = np.clip(np.nan_to_num(image.astype(np.float32)), 0.0, 1.0)
    else:
        raise AnimatexError(
            f"{name}: unsupported pixel type {image.dtype} (use uint8, uint16 or float in 0..1)"
        )
    channels = data.shape[2]
    if channels in (2, 4):
        alpha = data[..., -1:]
        data = data[..., :-1] * alpha + (1.0 - alpha)
    if data.shape[2] == 1:
        data = np.repeat(data, 3, axis=2)
    if image.dtype == np.uint8 and channels == 3:
        return np.ascontiguousarray(image)
    return np.round(data * 255.0).astype(np.uint8)


def resize_frames(frames: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize uint8 (H, W, 3) or (F, H, W, 3) frames to width x height: area averaging when shrinking (no
    aliasing), bilinear otherwise; the same array when the size already matches."""
    import cv2

    frames = np.asarray(frames)
    if frames.shape[-3:-1] == (height, width):
        return frames
    shrink = frames.shape[-2] > width or frames.shape[-3] > height
    interpolation = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    if frames.ndim == 3:
        return cv2.resize(frames, (width, height), interpolation=interpolation)
    return np.stack([cv2.resize(frame, (width, height), interpolation=interpolation) for frame in frames])


def read_image(path: str | Path) -> np.ndarray:
    """An image file as uint8 RGB (H, W, 3); alpha is composited over white."""
    import imageio.v3 as iio

    path = Path(path)
    if not path.is_file():
        raise AnimatexError(f"image not found: {path}")
    try:
        image = iio.imread(path, index=0) if path.suffix.lower() in (".gif", ".webp") else iio.imread(path)
    except Exception as error:  # imageio raises many types for a corrupt or foreign file
        raise AnimatexError(
            f"cannot read image {path}: not a picture or damaged; check that it opens, or save it again as png"
        ) from error
    return to_rgb_uint8(image, str(path))


def write_image(path: str | Path, image: np.ndarray) -> Path:
    """Write an (H, W, 3) uint8 image (or float in 0..1) as png/jpg/..., whole or not at all; creates folders."""
    import imageio.v3 as iio

    path = Path(path)
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise AnimatexError(f"{path}: unknown image type, use one of {', '.join(IMAGE_SUFFIXES)}")
    image = to_rgb_uint8(image, str(path))
    with atomic_output(path) as tmp:
        iio.imwrite(tmp, image)
    return path
