"""The on-disk clip format (docs/data.md): one folder per clip plus `index.jsonl` at the dataset root.

Synthetic and real clips share the format; real clips simply lack the ground-truth files (`target.mp4`,
`target_poses.npz`, `masks.npz`, `background.mp4`) because the driving video is its own ground truth.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from animatex.errors import AnimatexError
from animatex.io import atomic_output, read_image, read_video, write_image, write_text, write_video
from animatex.pose.sequence import PoseSequence

FORMAT_VERSION = 1
INDEX_NAME = "index.jsonl"
CLIPS_DIR = "clips"
MASKS_KEY = "masks"
REQUIRED_FILES = (
    "reference.png",
    "driving.mp4",
    "poses.npz",
    "reference_pose.npz",
    "caption.txt",
    "meta.json",
)


@dataclass
class Clip:
    """One clip in memory: frames uint8 (F, H, W, 3); target fields are None for real clips."""

    name: str
    reference: np.ndarray
    driving: np.ndarray
    poses: PoseSequence
    reference_pose: PoseSequence
    caption: str
    meta: dict = field(default_factory=dict)
    target: np.ndarray | None = None
    target_poses: PoseSequence | None = None
    masks: np.ndarray | None = None  # (F, H, W) bool
    background: np.ndarray | None = None

    @property
    def fps(self) -> float:
        return self.poses.fps

    @property
    def ground_truth(self) -> np.ndarray:
        """The video a model should reproduce: the target, or the driving video for self-driven real clips."""
        return self.target if self.target is not None else self.driving


def _save_masks(path: Path, masks: np.ndarray) -> None:
    # Bit-packed and compressed: lossless, about 1 bit per pixel before compression.
    masks = np.asarray(masks, bool)
    with atomic_output(path) as tmp:
        np.savez_compressed(tmp, **{MASKS_KEY: np.packbits(masks, axis=-1), "shape": np.array(masks.shape)})


def load_masks(path: str | Path) -> np.ndarray:
    """(F, H, W) bool masks from a `masks.npz`."""
    with np.load(path, allow_pickle=False) as data:
        shape = tuple(int(v) for v in data["shape"])
        return np.unpackbits(data[MASKS_KEY], axis=-1, count=shape[-1]).astype(bool).reshape(shape)


def write_clip(
    folder: str | Path,
    *,
    reference: np.ndarray,
    driving: np.ndarray,
    poses: PoseSequence,
    reference_pose: PoseSequence,
    caption: str,
    meta: dict,
    target: np.ndarray | None = None,
    target_poses: PoseSequence | None = None,
    masks: np.ndarray | None = None,
    background: np.ndarray | None = None,
    crf: int = 18,
) -> Path:
    """Write one clip folder; the optional ground-truth parts come together or not at all."""
    folder = Path(folder)
    gt = (target, target_poses, masks)
    if any(x is None for x in gt) and any(x is not None for x in gt):
        raise AnimatexError("target, target_poses and masks must be given together")
    if len(poses) != len(driving):
        raise AnimatexError(f"poses has {len(poses)} frames but the driving video has {len(driving)}")
    folder.mkdir(parents=True, exist_ok=True)
    fps = poses.fps
    write_image(folder / "reference.png", reference)
    write_video(folder / "driving.mp4", driving, fps, crf=crf)
    poses.save(folder / "poses.npz")
    reference_pose.save(folder / "reference_pose.npz")
    write_text(folder / "caption.txt", caption.strip() + "\n")
    if target is not None:
        write_video(folder / "target.mp4", target, fps, crf=crf)
        target_poses.save(folder / "target_poses.npz")
        _save_masks(folder / "masks.npz", masks)
    if background is not None:
        write_video(folder / "background.mp4", background, fps, crf=crf)
    meta = {"format_version": FORMAT_VERSION, **meta}
    write_text(folder / "meta.json", json.dumps(meta, indent=1) + "\n")
    return folder


def load_clip(folder: str | Path) -> Clip:
    """Read a clip folder (all videos decoded; 128x128x33 is about 1.6 MB per video)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise AnimatexError(f"clip folder not found: {folder}")
    missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
    if missing:
        raise AnimatexError(
            f"{folder} is not an animatex clip: missing {', '.join(missing)} (see docs/data.md)"
        )

    def video(name: str) -> np.ndarray | None:
        path = folder / name
        return read_video(path)[0] if path.is_file() else None

    target_poses = folder / "target_poses.npz"
    masks = folder / "masks.npz"
    return Clip(
        name=folder.name,
        reference=read_image(folder / "reference.png"),
        driving=video("driving.mp4"),
        poses=PoseSequence.load(folder / "poses.npz"),
        reference_pose=PoseSequence.load(folder / "reference_pose.npz"),
        caption=(folder / "caption.txt").read_text(encoding="utf-8").strip(),
        meta=json.loads((folder / "meta.json").read_text(encoding="utf-8")),
        target=video("target.mp4"),
        target_poses=PoseSequence.load(target_poses) if target_poses.is_file() else None,
        masks=load_masks(masks) if masks.is_file() else None,
        background=video("background.mp4"),
    )


# ---- the dataset root ----------------------------------------------------------------------------


def read_index(root: str | Path) -> list[dict]:
    """The records of `root/index.jsonl`, one per clip, in writing order."""
    path = Path(root) / INDEX_NAME
    if not path.is_file():
        raise AnimatexError(
            f"{root} is not an animatex dataset: no {INDEX_NAME} (make one with `animatex synth`)"
        )
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise AnimatexError(f"{path}:{number}: not JSON ({error})") from error
    return records


def append_index(root: str | Path, records: list[dict]) -> None:
    """Add records to `root/index.jsonl`; clip names must stay unique."""
    root = Path(root)
    path = root / INDEX_NAME
    known = {r["name"] for r in read_index(root)} if path.is_file() else set()
    clash = sorted(known.intersection(r["name"] for r in records))
    if clash:
        raise AnimatexError(
            f"{root} already has clips named {', '.join(clash[:3])}: pick other names (or seed), or --overwrite"
        )
    # Rewritten whole rather than appended, so a full disk cannot leave a half line behind.
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    if old and not old.endswith("\n"):
        old += "\n"
    write_text(path, old + "".join(json.dumps(record) + "\n" for record in records))


def index_record(name: str, meta: dict) -> dict:
    """The index line of a clip: where it is and what it is, without opening it."""
    keys = ("kind", "split", "subset", "num_frames", "width", "height", "fps", "caption")
    return {"name": name, "path": f"{CLIPS_DIR}/{name}", **{k: meta[k] for k in keys if k in meta}}


def prepare_root(root: str | Path, *, overwrite: bool = False, append: bool = False) -> Path:
    """Make `root` ready for writing: refuse a non-empty folder unless told to replace or extend it."""
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise AnimatexError(f"{root} exists and is not a folder")
    if root.is_dir() and any(root.iterdir()):
        is_dataset = (root / INDEX_NAME).is_file()
        if append and is_dataset:
            return root
        if overwrite and is_dataset:
            shutil.rmtree(root / CLIPS_DIR, ignore_errors=True)
            (root / INDEX_NAME).unlink()
            return root
        if (overwrite or append) and not is_dataset:
            raise AnimatexError(f"{root} is not empty and holds no {INDEX_NAME}; refusing to touch it")
        raise AnimatexError(f"{root} is not empty: pass --append to add clips or --overwrite to replace them")
    root.mkdir(parents=True, exist_ok=True)
    return root


class ClipDataset:
    """The clips of a dataset root, optionally filtered by split / subset / kind; loads on access."""

    def __init__(
        self, root: str | Path, split: str | None = None, subset: str | None = None, kind: str | None = None
    ) -> None:
        self.root = Path(root)
        wanted = {"split": split, "subset": subset, "kind": kind}
        self.records = [
            r for r in read_index(self.root) if all(v is None or r.get(k) == v for k, v in wanted.items())
        ]

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> Clip:
        return load_clip(self.root / self.records[index]["path"])

    def __iter__(self) -> Iterator[Clip]:
        for i in range(len(self)):
            yield self[i]

    def folder(self, index: int) -> Path:
        return self.root / self.records[index]["path"]
