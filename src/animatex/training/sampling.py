"""Turning dataset clips into training examples: which clip, which frames, which task, which conditions.

Every decision is a pure function of (seed, step, micro-batch, process, sample), drawn from its own
`numpy.random.Generator`, so a resumed run sees exactly the data an uninterrupted one would, and the task mix,
the EPI rate and the condition-dropout rates can be counted without training.

Self-driven training, as Animate-X: the training video is both the target and the driving video; the
reference is a random frame of the same clip, and the Explicit Pose Indicator transforms the driving poses
(with probability lambda) so the model learns not to copy the skeleton's body shape.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from animatex.data.captions import mirror_caption, still_caption
from animatex.io import resize_frames
from animatex.pipelines.pipeline_animatex import TASKS
from animatex.pose import PoseSequence
from animatex.pose.draw import draw_pose, draw_pose_video
from animatex.pose.epi import EPIConfig, PosePool, explicit_pose_indicator
from animatex.training.config import Config


@dataclass
class TrainingClip:
    """One training video with its poses: for synthetic clips the ground truth, for real clips the video."""

    frames: np.ndarray  # (N, H, W, 3) uint8
    poses: PoseSequence  # N frames, in the frames' pixels
    caption: str
    masks: np.ndarray | None = None  # (N, H, W) bool character masks, synthetic clips only
    background: np.ndarray | None = None  # (N, H, W, 3) uint8 clean background, synthetic clips only

    @property
    def can_hold_background(self) -> bool:
        return self.masks is not None and self.background is not None


@dataclass
class StepPlan:
    """Decisions shared by all samples of one micro-batch on one process."""

    task: str
    drop_pose: bool
    drop_image: bool
    drop_text: bool


@dataclass
class TrainingExample:
    video: np.ndarray  # (F, h, w, 3) uint8: the frames to denoise
    reference: np.ndarray  # (h, w, 3) uint8: a random frame of the clip
    pose_video: np.ndarray  # (F, h, w, 3) uint8: rendered driving poses (after EPI)
    ref_pose: np.ndarray  # (h, w, 3) uint8: rendered pose of the reference frame
    keypoints: np.ndarray  # (F, 18, 2) float32: driving body points in [0, 1], -1 invisible
    caption: str
    epi_applied: bool = False  # whether EPI transformed the driving poses (probability lambda)
    epi: tuple[str, ...] = ()  # EPI operations applied ("realign", op names; empty when none)


def generator(seed: int, *keys: int) -> np.random.Generator:
    """An independent stream for one decision: (seed, kind of decision, step, ...) -> Generator."""
    return np.random.default_rng(np.random.SeedSequence([seed, *keys]))


def plan_step(config: Config, step: int, micro: int, rank: int) -> StepPlan:
    """The task is shared by all processes (partial parameter training steps one task at a time)."""
    seed = config.train.seed
    tasks = [t for t in TASKS if config.tasks.mix.get(t, 0) > 0]
    weights = np.array([config.tasks.mix[t] for t in tasks], dtype=np.float64)
    task = tasks[generator(seed, 0, step).choice(len(tasks), p=weights / weights.sum())]
    rng = generator(seed, 1, step, micro, rank)
    drops = rng.random(3)
    return StepPlan(
        task=task,
        drop_pose=bool(drops[0] < config.dropout.pose),
        drop_image=bool(drops[1] < config.dropout.image),
        drop_text=bool(drops[2] < config.dropout.text),
    )


def clip_index(
    config: Config, num_clips: int, step: int, micro: int, rank: int, world: int, sample: int
) -> int:
    """Walk the dataset in a fresh seeded permutation each epoch, interleaved across processes."""
    batch = config.train.batch_size
    counter = ((step * config.train.grad_accum + micro) * world + rank) * batch + sample
    epoch, position = divmod(counter, num_clips)
    return int(generator(config.train.seed, 2, epoch).permutation(num_clips)[position])


def hold_background(frames: np.ndarray, masks: np.ndarray, background: np.ndarray, index: int) -> np.ndarray:
    """The clip with the background of frame `index` in every frame; the character moves as before.

    Outside the character each frame shows frame `index` itself, or its clean background where the character
    covered it there, so the held background does not change by a single value; frame `index` is unchanged.
    """
    if not masks.shape == frames.shape[:3] == background.shape[:3]:
        raise ValueError(
            f"frames {frames.shape[:3]}, masks {masks.shape} and background {background.shape[:3]} must match"
        )
    still = np.where(masks[index][..., None], background[index], frames[index])
    return np.where(masks[..., None], frames, still[None])


def make_example(
    clip: TrainingClip,
    config: Config,
    pose_pool: PosePool | None,
    epi_config: EPIConfig | None,
    rng: np.random.Generator,
    still_background: bool = False,
    mirror: bool = False,
) -> TrainingExample:
    """Cut a window of `num_frames` (with `frame_stride`), pick a reference frame, apply EPI, render poses.

    `still_background` (a clip with masks and a clean background): the background of the reference frame
    stays still for the whole window and the caption says so (`data.still_background`, docs/training.md).
    `mirror`: the example's left-right mirror image, caption included (`data.horizontal_flip`).
    """
    data = config.data
    span = (data.num_frames - 1) * data.frame_stride + 1
    if len(clip.frames) < span:
        # Short clips loop back and forth rather than being skipped: nothing in the dataset goes unused.
        order = np.concatenate([np.arange(len(clip.frames)), np.arange(len(clip.frames) - 2, 0, -1)])
        order = np.resize(order, span) if len(order) else np.zeros(span, int)
    else:
        start = int(rng.integers(0, len(clip.frames) - span + 1))
        order = np.arange(start, start + span)
    window = order[:: data.frame_stride]
    reference_index = int(rng.integers(0, len(clip.frames)))

    width, height = data.width, data.height
    source, caption = clip.frames, clip.caption
    if still_background:
        if not clip.can_hold_background:
            raise ValueError("still_background needs a clip with masks and a clean background")
        source = hold_background(clip.frames, clip.masks, clip.background, reference_index)
        caption = still_caption(clip.caption, rng)
    frames = resize_frames(source[window], width, height)
    reference = resize_frames(source[reference_index][None], width, height)[0]
    driving = clip.poses[window].rescaled(width, height)
    reference_pose = clip.poses[reference_index].rescaled(width, height)
    if mirror:
        frames, reference = np.ascontiguousarray(frames[:, :, ::-1]), np.ascontiguousarray(reference[:, ::-1])
        driving, reference_pose = driving.mirrored(), reference_pose.mirrored()
        caption = mirror_caption(caption)

    applied, names = False, ()
    if pose_pool is not None and epi_config is not None:
        driving, record = explicit_pose_indicator(driving, pose_pool, epi_config, rng)
        applied, names = record.applied, record.names
    return TrainingExample(
        video=frames,
        reference=reference,
        pose_video=draw_pose_video(driving, width, height),
        ref_pose=draw_pose(reference_pose, width, height),
        keypoints=driving.body_normalized(),
        caption=caption,
        epi_applied=applied,
        epi=tuple(names),
    )
