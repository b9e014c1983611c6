"""Write A2Bench-Synth clips to a dataset root (the library side of `animatex synth`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from animatex.data.dataset import CLIPS_DIR, append_index, index_record, prepare_root, write_clip
from animatex.data.world import check_case_args, make_case
from animatex.errors import AnimatexError


def clip_name(split: str, subset: str, seed: int, index: int) -> str:
    return f"{split}_{subset}_s{seed}_{index:05d}"


def generate(
    out: str | Path,
    split: str,
    num: int,
    seed: int,
    subset: str = "train",
    size: int = 128,
    num_frames: int = 33,
    fps: float = 16.0,
    *,
    overwrite: bool = False,
    append: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> list[Path]:
    """Generate clips 0..num-1 of (split, subset, seed) under `out/clips/` and list them in the index."""
    if num < 1:
        raise AnimatexError(f"--num must be at least 1, got {num}")
    if seed < 0:
        raise AnimatexError(f"--seed must be non-negative, got {seed}")
    check_case_args(split, subset, size, num_frames)  # before touching the output folder
    root = prepare_root(out, overwrite=overwrite, append=append)
    folders = []
    for index in range(num):
        # The index grows clip by clip, so an interrupted run keeps every finished clip usable.
        case = make_case(seed, split, subset, index, size, num_frames, fps)
        name = clip_name(split, subset, seed, index)
        folder = write_clip(
            root / CLIPS_DIR / name,
            reference=case.reference,
            driving=case.driving,
            poses=case.poses,
            reference_pose=case.reference_pose,
            caption=case.caption,
            meta=case.meta,
            target=case.target,
            target_poses=case.target_poses,
            masks=case.masks,
            background=case.background,
        )
        append_index(root, [index_record(name, case.meta)])
        folders.append(folder)
        if progress is not None:
            progress(index + 1, num)
    return folders
