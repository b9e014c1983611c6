"""The training data: a dataset in the on-disk format, its EPI pose pool, and per-step examples."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from animatex.data.dataset import Clip, ClipDataset
from animatex.errors import AnimatexError
from animatex.pose.epi import PosePool
from animatex.training.config import Config
from animatex.training.sampling import TrainingClip, TrainingExample, clip_index, generator, make_example


def training_clip(clip: Clip) -> TrainingClip:
    """The video a model learns to reproduce, with its own poses (self-driven training)."""
    if clip.target is not None:
        if clip.target_poses is None:
            raise AnimatexError(f"clip {clip.name} has target.mp4 but no target_poses.npz")
        return TrainingClip(clip.target, clip.target_poses, clip.caption, clip.masks, clip.background)
    return TrainingClip(clip.driving, clip.poses, clip.caption)


class TrainingData:
    """Examples for (step, micro-batch, process): a pure function of the config and those numbers."""

    def __init__(self, config: Config) -> None:
        self.config = config
        root = Path(config.data.root)
        if not (root / "index.jsonl").is_file():
            raise AnimatexError(
                f"data.root: no dataset at {root} (expected {root / 'index.jsonl'}); "
                f"make one with `animatex synth --out {root} ...` or `animatex data prepare VIDEOS --out {root}`"
            )
        self.dataset = ClipDataset(root, subset=config.data.subset)
        if len(self.dataset) == 0:
            raise AnimatexError(f"data.root: {root} has no clips of subset {config.data.subset!r}")
        self._load = lru_cache(maxsize=config.data.clip_cache)(lambda i: training_clip(self.dataset[i]))
        self.epi = None
        self.pool = None
        if config.epi.enabled:
            self.epi = config.epi
            rng = generator(config.train.seed, 5)
            count = min(len(self.dataset), config.data.pose_pool_size)
            chosen = sorted(rng.choice(len(self.dataset), size=count, replace=False).tolist())
            self.pool = PosePool(self._load(i).poses for i in chosen)

    def __len__(self) -> int:
        return len(self.dataset)

    def examples(self, step: int, micro: int, rank: int, world: int) -> list[TrainingExample]:
        """The `train.batch_size` examples of one micro-batch on one process."""
        out = []
        for sample in range(self.config.train.batch_size):
            index = clip_index(self.config, len(self.dataset), step, micro, rank, world, sample)
            rng = generator(self.config.train.seed, 6, step, micro, rank, sample)
            clip = self._load(index)
            keys = (step, micro, rank, sample)
            still = clip.can_hold_background and self._chance(8, self.config.data.still_background, *keys)
            mirror = self._chance(9, self.config.data.horizontal_flip, *keys)
            out.append(make_example(clip, self.config, self.pool, self.epi, rng, still, mirror))
        return out

    def _chance(self, stream: int, rate: float, step: int, micro: int, rank: int, sample: int) -> bool:
        """A yes with probability `rate`, from its own random stream: turning one option on moves no other draw
        (stream 8: a held-still background, 9: a mirrored example)."""
        return rate > 0 and bool(
            generator(self.config.train.seed, stream, step, micro, rank, sample).random() < rate
        )

    def fixed_example(self, index: int) -> TrainingExample:
        """Clip `index` as a training example without EPI, always the same frames (for sample videos)."""
        if not 0 <= index < len(self.dataset):
            raise AnimatexError(f"log.sample_clip: {index} is not a clip index (the dataset has {len(self)})")
        return make_example(self._load(index), self.config, None, None, generator(self.config.train.seed, 7))
