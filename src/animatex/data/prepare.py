"""`animatex data prepare`: real videos -> the same clip format as A2Bench-Synth (docs/data.md).

A real clip is self-driven: the video is both the driving video and the ground truth, its first frame is
the reference image, and the detected first-frame pose is the reference pose. Captions come from a
sidecar `NAME.txt` next to each video, else from `captions.json` ({file name: caption}) in the folder,
else from the default caption.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from animatex.data.dataset import CLIPS_DIR, append_index, index_record, prepare_root, write_clip
from animatex.errors import AnimatexError
from animatex.io import VIDEO_SUFFIXES, read_video, resize_frames

DEFAULT_CAPTION = "a person is dancing, the background stays still."


def fit_frames(frames: np.ndarray, size: int | None) -> np.ndarray:
    """Centre-crop to a square of side `size` (resized), or, without a size, crop each side down to /16."""
    _, h, w, _ = frames.shape
    if size is None:
        h16, w16 = h - h % 16, w - w % 16
        if h16 == 0 or w16 == 0:
            raise AnimatexError(f"video of {w}x{h} is smaller than 16 pixels")
        top, left = (h - h16) // 2, (w - w16) // 2
        return np.ascontiguousarray(frames[:, top : top + h16, left : left + w16])
    if size < 32 or size % 16:
        raise AnimatexError(f"--size must be a multiple of 16 and at least 32, got {size}")
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return resize_frames(frames[:, top : top + side, left : left + side], size, size)


def find_videos(videos_dir: str | Path) -> list[Path]:
    folder = Path(videos_dir)
    if not folder.is_dir():
        raise AnimatexError(f"videos folder not found: {folder}")
    videos = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
    if not videos:
        raise AnimatexError(f"no videos ({', '.join(VIDEO_SUFFIXES)}) in {folder}")
    return videos


def caption_for(video: Path, default: str) -> str:
    sidecar = video.with_suffix(".txt")
    if sidecar.is_file():
        return sidecar.read_text(encoding="utf-8").strip()
    table = video.parent / "captions.json"
    if table.is_file():
        try:
            captions = json.loads(table.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise AnimatexError(f"{table} is not valid JSON ({error})") from error
        if video.name in captions:
            return str(captions[video.name]).strip()
    return default


def _clip_name(video: Path) -> str:
    return "real_" + re.sub(r"[^A-Za-z0-9_-]+", "_", video.stem)


def prepare_videos(
    videos_dir: str | Path,
    out: str | Path,
    *,
    split: str = "human",
    subset: str = "test",
    size: int | None = None,
    max_frames: int | None = None,
    backend: str = "mediapipe",
    dwpose_dir: str | Path | None = None,
    caption: str = DEFAULT_CAPTION,
    overwrite: bool = False,
    append: bool = False,
    detector=None,
    progress: Callable[[int, int, str], None] | None = None,
) -> list[Path]:
    """Write one clip per video in `videos_dir` (sorted by name) and index them under `out`."""
    from animatex.pose.detect import extract_poses

    if split not in ("human", "anthro") or subset not in ("train", "test"):
        raise AnimatexError(f"split must be human|anthro and subset train|test, got {split!r}/{subset!r}")
    if size is not None and (size < 32 or size % 16):
        raise AnimatexError(f"--size must be a multiple of 16 and at least 32, got {size}")
    videos = find_videos(videos_dir)
    for video in videos:  # a broken video is reported before anything is written
        read_video(video, max_frames=1)
    root = prepare_root(out, overwrite=overwrite, append=append)
    folders = []
    for number, video in enumerate(videos, 1):
        frames, fps = read_video(video, max_frames)
        frames = fit_frames(frames, size)
        poses = extract_poses(
            frames,
            fps,
            backend=backend,
            dwpose_dir=dwpose_dir,
            progress=False,
            detector=detector,
            name=video.name,
        )
        text = caption_for(video, caption)
        name = _clip_name(video)
        meta = {
            "kind": "real",
            "split": split,
            "subset": subset,
            "source": video.name,
            "width": int(frames.shape[2]),
            "height": int(frames.shape[1]),
            "num_frames": len(frames),
            "fps": float(fps),
            "pose_backend": backend if detector is None else type(detector).__name__,
            "self_driven": True,
            "caption": text,
        }
        folder = write_clip(
            root / CLIPS_DIR / name,
            reference=frames[0],
            driving=frames,
            poses=poses,
            reference_pose=poses[0],
            caption=text,
            meta=meta,
        )
        append_index(root, [index_record(name, meta)])
        folders.append(folder)
        if progress is not None:
            progress(number, len(videos), video.name)
    return folders
