"""Videos as uint8 RGB frame stacks (F, H, W, 3) plus a frame rate.

Sources: any container ffmpeg reads (mp4, webm, mov, mkv, avi), animated gif, a folder of numbered
images, or a single image. Written as H.264 mp4 (yuv420p, plays everywhere) or gif.
"""

from __future__ import annotations

import contextlib
import numbers
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from animatex.errors import AnimatexError
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
        raise AnimatexError(
            f"cannot read video {path}: {str(error).strip() or type(error).__name__}"
        ) from error
    if not frames:
        raise AnimatexError(f"video {path} has no frames")
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


def _check_output(path: Path, fps: float, crf: int) -> None:
    if path.suffix.lower() not in (".mp4", ".gif"):
        raise AnimatexError(f"{path}: write videos as .mp4 or .gif")
    if not (isinstance(fps, numbers.Real) and np.isfinite(fps) and fps > 0):
        raise AnimatexError(f"{path}: fps must be a positive number, got {fps!r}")
    if not 0 <= int(crf) <= 51:
        raise AnimatexError(f"{path}: crf must lie in 0..51, got {crf}")


class VideoWriter:
    """Writes a video a batch of frames at a time (a long generation window by window), atomically.

    Frames go to a hidden temporary file next to `path` (`.NAME.partial.mp4`), renamed to `path` when the
    writer closes normally; on an error or Ctrl-C inside the `with` block the temporary file is deleted, so no
    half-written video is ever left at `path`. mp4 frames are encoded as they come (memory stays flat); a gif
    is assembled at the end. Use as `with VideoWriter(path, fps) as writer: writer.write(frames)`.
    """

    def __init__(self, path: str | Path, fps: float = DEFAULT_FPS, *, crf: int = 18):
        self.path = Path(path)
        _check_output(self.path, fps, crf)
        self.fps, self.crf = float(fps), int(crf)
        self.partial = self.path.with_name(f".{self.path.stem}.partial{self.path.suffix}")
        self.frames_written = 0
        self.frame_shape: tuple[int, ...] | None = None
        self._encoder = None
        self._gif_frames: list[np.ndarray] = []

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, traceback: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def write(self, frames: np.ndarray | Sequence[np.ndarray]) -> None:
        """Append frames (F, H, W, 3) uint8 (or float in 0..1); every batch must have the first one's size."""
        frames = _as_frames(frames, str(self.path))
        if self.frame_shape is None:
            self.frame_shape = frames.shape[1:]
            self.path.parent.mkdir(parents=True, exist_ok=True)
        elif frames.shape[1:] != self.frame_shape:
            raise AnimatexError(
                f"{self.path}: frames of size {frames.shape[2]}x{frames.shape[1]} after "
                f"{self.frame_shape[1]}x{self.frame_shape[0]}; all frames must have one size"
            )
        if self.path.suffix.lower() == ".gif":
            self._gif_frames.extend(frames)
        else:
            self._send_mp4(frames)
        self.frames_written += len(frames)

    def _send_mp4(self, frames: np.ndarray) -> None:
        import imageio_ffmpeg

        frames = _pad_even(frames)
        if self._encoder is None:
            height, width = frames.shape[1:3]
            self._encoder = imageio_ffmpeg.write_frames(
                str(self.partial),
                (width, height),
                fps=self.fps,
                codec="libx264",
                pix_fmt_in="rgb24",
                pix_fmt_out="yuv420p",
                quality=None,
                macro_block_size=1,  # we pad to even sizes ourselves instead of letting ffmpeg resize to 16
                output_params=["-crf", str(self.crf), "-preset", "medium"],
            )
            self._encoder.send(None)  # start the generator
        for frame in frames:
            self._encoder.send(np.ascontiguousarray(frame))

    def close(self) -> Path:
        """Finish the file and move it to `path`; a writer given no frames raises and leaves nothing."""
        if self.frames_written == 0:
            self.abort()
            raise AnimatexError(f"{self.path}: no frames to write")
        try:
            if self._encoder is not None:
                encoder, self._encoder = self._encoder, None
                encoder.close()
            if self._gif_frames:
                _write_gif(self.partial, np.stack(self._gif_frames), self.fps)
                self._gif_frames = []
        except BaseException:
            self.abort()
            raise
        self.partial.replace(self.path)
        return self.path

    def abort(self) -> None:
        """Stop and delete the temporary file; `path` is left as it was."""
        encoder, self._encoder = self._encoder, None
        if encoder is not None:
            with contextlib.suppress(Exception):  # ffmpeg may already be gone (Ctrl-C reaches it too)
                encoder.close()
        self._gif_frames = []
        self.partial.unlink(missing_ok=True)


def _write_gif(path: Path, frames: np.ndarray, fps: float) -> None:
    from PIL import Image

    # GIF stores delays in 1/100 s, so the frame rate read back is 100 / round(100 / fps).
    duration_ms = 10 * max(1, round(100.0 / fps))
    images = [Image.fromarray(frame) for frame in frames]
    images[0].save(
        path,
        save_all=True,
        append_images=images[1:],
        duration=duration_ms,
        loop=0,
        optimize=False,
        format="GIF",
    )


def write_video(
    path: str | Path, frames: np.ndarray | Sequence[np.ndarray], fps: float = DEFAULT_FPS, *, crf: int = 18
) -> Path:
    """Write frames (F, H, W, 3) uint8 (or float in 0..1) as H.264 mp4 or gif; creates parent folders.

    Atomic: written to a temporary file and renamed (`VideoWriter`), so an existing file is replaced only by
    a finished video.

    mp4: libx264, yuv420p, constant quality `crf` (0 lossless luma .. 51 worst; 18 looks lossless);
    odd sizes get one repeated edge row/column. gif: delays rounded to 1/100 s, loops forever.
    """
    path = Path(path)
    _check_output(path, fps, crf)
    frames = _as_frames(frames, str(path))
    with VideoWriter(path, fps, crf=crf) as writer:
        writer.write(frames)
    return path
