"""Videos as uint8 RGB frame stacks (F, H, W, 3) plus a frame rate.

Sources: any container ffmpeg reads (mp4, webm, mov, mkv, avi), animated gif, a folder of numbered
images, or a single image. Written as H.264 mp4 (yuv420p, plays everywhere) or gif.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from animatex.errors import AnimatexError
from animatex.io.atomic import EncoderError, atomic_output
from animatex.io.image import IMAGE_SUFFIXES, read_image, to_rgb_uint8

# Frame rate given to sources that carry none (a single image, a folder of frames): Wan2.1 renders at 16.
DEFAULT_FPS = 16.0
VIDEO_SUFFIXES: tuple[str, ...] = (".mp4", ".webm", ".mov", ".mkv", ".avi", ".m4v", ".gif")


def _natural_key(path: Path) -> list:
    """Sort frame_2.png before frame_10.png."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def _check_max_frames(max_frames: int | None) -> None:
    if max_frames is not None and (
        isinstance(max_frames, bool) or int(max_frames) != max_frames or max_frames < 1
    ):
        raise AnimatexError(f"max_frames must be a positive integer or None, got {max_frames!r}")


def _read_folder(path: Path, max_frames: int | None) -> list[np.ndarray]:
    files = sorted(
        (p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES), key=_natural_key
    )
    if not files:
        raise AnimatexError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) in folder {path}")
    frames = [read_image(p) for p in files[:max_frames]]
    for file, frame in zip(files[: len(frames)], frames, strict=True):
        if frame.shape != frames[0].shape:
            raise AnimatexError(
                f"frames in {path} differ in size: {files[0].name} is {frames[0].shape[1]}x{frames[0].shape[0]}, "
                f"{file.name} is {frame.shape[1]}x{frame.shape[0]}; resize them to one size"
            )
    return frames


def _read_gif(path: Path, max_frames: int | None) -> tuple[list[np.ndarray], float]:
    from PIL import Image, ImageSequence

    frames, durations = [], []
    with Image.open(path) as gif:
        for frame in ImageSequence.Iterator(gif):
            frames.append(to_rgb_uint8(np.asarray(frame.convert("RGBA")), str(path)))
            durations.append(float(frame.info.get("duration", 0) or 0))
            if max_frames is not None and len(frames) >= max_frames:
                break
    positive = [d for d in durations if d > 0]
    fps = 1000.0 / float(np.median(positive)) if positive else DEFAULT_FPS
    return frames, fps


def _read_ffmpeg(path: Path, max_frames: int | None) -> tuple[list[np.ndarray], float]:
    import imageio_ffmpeg

    # imageio-ffmpeg catches ffmpeg's stderr; its errors carry all of it, which `_decoder_complaint` trims.
    reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
    try:
        meta = next(reader)
        width, height = meta["size"]
        fps = float(meta.get("fps") or 0) or DEFAULT_FPS
        frames = []
        for raw in reader:
            frames.append(np.frombuffer(raw, np.uint8).reshape(height, width, 3))
            if max_frames is not None and len(frames) >= max_frames:
                break
    finally:
        reader.close()
    return frames, fps


def _decoder_complaint(error: BaseException, path: Path) -> str:
    """The one line of a decoder's error worth showing: ffmpeg's last stderr line, without the file name."""
    text = str(error)
    if "=== stderr ===" in text:
        text = text.split("=== stderr ===", 1)[1]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    last = lines[-1]
    for prefix in (str(path), path.name):
        if last.startswith(prefix):
            last = last[len(prefix) :].lstrip(" :")
    return last[:160]


def read_video(path: str | Path, max_frames: int | None = None) -> tuple[np.ndarray, float]:
    """Frames uint8 (F, H, W, 3) RGB and the frame rate of a video, gif, frame folder or single image.

    A folder (images sorted by name, numbers in natural order) or a single image has no frame rate of
    its own and gets `DEFAULT_FPS` (16, Wan2.1's). `max_frames` keeps only the first frames.
    """
    _check_max_frames(max_frames)
    path = Path(path)
    if not path.exists():
        raise AnimatexError(f"video not found: {path}")
    suffix = path.suffix.lower()
    fps = DEFAULT_FPS
    try:
        if path.is_dir():
            frames = _read_folder(path, max_frames)
        elif suffix in IMAGE_SUFFIXES:
            frames = [read_image(path)]
        elif suffix == ".gif":
            frames, fps = _read_gif(path, max_frames)
        else:
            frames, fps = _read_ffmpeg(path, max_frames)
    except AnimatexError:
        raise
    except Exception as error:  # ffmpeg and PIL raise OSError/RuntimeError/StopIteration on bad files
        if path.is_file() and path.stat().st_size == 0:
            raise AnimatexError(f"video {path} is empty (0 bytes); copy or export it again") from error
        raise AnimatexError(
            f"cannot read video {path}: not a video or damaged ({_decoder_complaint(error, path)}); check "
            "that it plays, or export it again as mp4 or as a folder of frames"
        ) from error
    if not frames:
        raise AnimatexError(
            f"video {path} has no frames (empty or cut short); check that it plays, or export it again"
        )
    return np.stack(frames), fps


def _as_frames(frames: np.ndarray | Sequence[np.ndarray], name: str) -> np.ndarray:
    if isinstance(frames, np.ndarray):
        if frames.ndim not in (3, 4):
            raise AnimatexError(
                f"{name}: frames must have shape (F, H, W, 3) or (F, H, W), got {frames.shape}"
            )
        frames = list(frames)
    else:
        frames = list(frames)
    if not frames:
        raise AnimatexError(f"{name}: no frames to write")
    converted = [to_rgb_uint8(frame, name) for frame in frames]
    if any(f.shape != converted[0].shape for f in converted):
        raise AnimatexError(f"{name}: all frames must have the same size")
    return np.stack(converted)


def _pad_even(frames: np.ndarray) -> np.ndarray:
    """yuv420p subsamples colour 2x2, so H.264 needs even sizes: repeat the last row/column if odd."""
    _, height, width, _ = frames.shape
    pad_h, pad_w = height % 2, width % 2
    if pad_h or pad_w:
        frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    return frames


def _write_mp4(path: Path, frames: np.ndarray, fps: float, crf: int) -> None:
    import errno
    import os
    import signal
    import subprocess

    import imageio_ffmpeg

    frames = np.ascontiguousarray(_pad_even(frames))
    height, width = frames.shape[1:3]
    command = [
        imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-hide_banner", "-loglevel", "error",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", f"{fps:.02f}", "-i", "-",
        "-an", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", str(crf), "-preset", "medium",
        "-f", "mp4", str(path),
    ]  # fmt: skip
    # ffmpeg's complaints are captured, not shown, and its exit status decides: a full disk often only shows
    # when the trailer is written, after every frame went down the pipe without error.
    process = subprocess.run(command, input=memoryview(frames).cast("B"), capture_output=True, check=False)
    if process.returncode == -signal.SIGXFSZ:  # killed for outgrowing the file size limit
        raise OSError(errno.EFBIG, os.strerror(errno.EFBIG), str(path))
    if process.returncode != 0:
        lines = process.stderr.decode(errors="replace").strip().splitlines()
        raise EncoderError(lines[-1] if lines else f"ffmpeg exited with status {process.returncode}")


def _write_gif(path: Path, frames: np.ndarray, fps: float) -> None:
    from PIL import Image

    # GIF stores delays in 1/100 s, so the frame rate read back is 100 / round(100 / fps).
    duration_ms = 10 * max(1, round(100.0 / fps))
    images = [Image.fromarray(frame) for frame in frames]
    images[0].save(
        path, save_all=True, append_images=images[1:], duration=duration_ms, loop=0, optimize=False
    )


def write_video(
    path: str | Path, frames: np.ndarray | Sequence[np.ndarray], fps: float = DEFAULT_FPS, *, crf: int = 18
) -> Path:
    """Write frames (F, H, W, 3) uint8 (or float in 0..1) as H.264 mp4 or gif, whole or not at all.

    Creates parent folders; a failed write raises `OutputError` and leaves any old file as it was.

    mp4: libx264, yuv420p, constant quality `crf` (0 lossless luma .. 51 worst; 18 looks lossless);
    odd sizes get one repeated edge row/column. gif: delays rounded to 1/100 s, loops forever.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".mp4", ".gif"):
        raise AnimatexError(f"{path}: write videos as .mp4 or .gif")
    if not (isinstance(fps, numbers.Real) and np.isfinite(fps) and fps > 0):
        raise AnimatexError(f"{path}: fps must be a positive number, got {fps!r}")
    if not 0 <= int(crf) <= 51:
        raise AnimatexError(f"{path}: crf must lie in 0..51, got {crf}")
    frames = _as_frames(frames, str(path))
    with atomic_output(path) as tmp:
        if suffix == ".gif":
            _write_gif(tmp, frames, float(fps))
        else:
            _write_mp4(tmp, frames, float(fps), int(crf))
    return path
