"""One A2Bench-Synth case: a reference character, a human driver and the exact ground truth.

The driver (human proportions) and the reference character perform the SAME per-frame bone angles; each
uses its own bone lengths and is fitted into the frame (one scale and offset per clip, feet on the ground).
So the ground-truth keypoints are the driving motion retargeted by bone lengths, exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from animatex.data.backgrounds import render_background, sample_background
from animatex.data.captions import make_captions, pick_caption
from animatex.data.characters import HELD_OUT_TEMPLATES, TEMPLATES, Character, sample_character, templates_for
from animatex.data.motions import MOTION_FAMILIES, MOTION_VERBS, Motion, sample_motion
from animatex.data.render import Layer, draw_character, part_padding
from animatex.errors import AnimatexError
from animatex.pose.kinematics import forward_kinematics
from animatex.pose.sequence import PoseSequence

SPLITS: tuple[str, ...] = ("human", "anthro")
SUBSETS: tuple[str, ...] = ("train", "test")
# Motion families never used for the train subset.
HELD_OUT_MOTIONS: frozenset[str] = frozenset({"kick", "bow"})
DYNAMIC_PROBABILITY = 0.8  # share of reference backgrounds that move (ours; the rest are static)
MARGIN = 0.04  # free border, as a fraction of the frame


@dataclass
class SynthCase:
    """All arrays of one clip, before writing: frames are uint8 (F, H, W, 3)."""

    reference: np.ndarray
    driving: np.ndarray
    poses: PoseSequence  # the driving keypoints
    target: np.ndarray
    target_poses: PoseSequence
    reference_pose: PoseSequence  # one frame: the target's first pose
    masks: np.ndarray  # (F, H, W) bool
    background: np.ndarray
    caption: str
    meta: dict


def clip_rng(seed: int, split: str, subset: str, index: int) -> np.random.Generator:
    """The generator of one clip: streams for different (split, subset, index) never coincide."""
    key = (SUBSETS.index(subset), SPLITS.index(split), int(index))
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=key))


def motions_for(subset: str) -> list[str]:
    return [m for m in MOTION_FAMILIES if subset == "test" or m not in HELD_OUT_MOTIONS]


def place_motion(
    motion: Motion,
    lengths: np.ndarray,
    padding: np.ndarray,
    height: int,
    width: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, float]:
    """Body keypoints (F, 18, 2) in pixels and the scale (pixels per stature unit) for one character.

    Feet stay on the ground (the lower ankle touches it, so squats lower the body) unless the motion lifts
    the root; one scale and offset for the whole clip keep every drawn part inside the frame.
    """
    angles = motion.angles
    unit = forward_kinematics(np.zeros((len(angles), 2)), angles, lengths)  # neck at the origin
    reach = float(lengths[6] + lengths[7] + lengths[8])  # neck to ankle: the unit for lift and sway
    ground = -unit[:, [10, 13], 1].max(axis=1)
    root = np.stack([motion.root[:, 0] * reach, ground - motion.root[:, 1] * reach], axis=1)
    body = unit + root[:, None, :]
    lo = (body - padding[None, :, None]).min(axis=(0, 1))
    hi = (body + padding[None, :, None]).max(axis=(0, 1))
    avail_w, avail_h = (1 - 2 * MARGIN) * width, (1 - 2 * MARGIN) * height
    scale = min(avail_w / (hi[0] - lo[0]), avail_h / (hi[1] - lo[1])) * rng.uniform(0.85, 1.0)
    slack_x = avail_w - scale * (hi[0] - lo[0])
    offset = np.array(
        [MARGIN * width + rng.uniform(0, slack_x) - scale * lo[0], (1 - MARGIN) * height - scale * hi[1]]
    )
    root_px = root * scale + offset
    # Rebuild from the root so the keypoints are exactly forward kinematics of (angles, scaled lengths).
    return forward_kinematics(root_px, angles, lengths * scale), float(scale)


def _render(character: Character, body: np.ndarray, scale: float, background: np.ndarray, fps: float):
    frames = np.empty_like(background)
    masks = np.empty(background.shape[:3], bool)
    for i, pose in enumerate(body):
        layer = Layer(*background.shape[1:3])
        draw_character(layer, pose, character, scale, i / fps)
        frames[i] = layer.composite(background[i])
        masks[i] = layer.mask
    return frames, masks


def check_case_args(split: str, subset: str, size: int, num_frames: int) -> None:
    if split not in SPLITS:
        raise AnimatexError(f"split must be one of {SPLITS}, got {split!r}")
    if subset not in SUBSETS:
        raise AnimatexError(f"subset must be one of {SUBSETS}, got {subset!r}")
    if size < 32 or size % 16:
        raise AnimatexError(f"size must be a multiple of 16 and at least 32 (the VAE needs /16), got {size}")
    if num_frames < 1:
        raise AnimatexError(f"num_frames must be at least 1, got {num_frames}")


def make_case(
    seed: int,
    split: str,
    subset: str = "train",
    index: int = 0,
    size: int = 128,
    num_frames: int = 33,
    fps: float = 16.0,
    template: str | None = None,
    family: str | None = None,
) -> SynthCase:
    """Generate clip `index` of (split, subset, seed); `template`/`family` force a choice (galleries, tests)."""
    check_case_args(split, subset, size, num_frames)
    rng = clip_rng(seed, split, subset, index)

    # 1. Who, doing what, in front of what.
    names = templates_for(split, subset)
    ref_name = template or names[rng.integers(len(names))]
    if ref_name not in TEMPLATES:
        raise AnimatexError(f"unknown template {ref_name!r}; choose one of {sorted(TEMPLATES)}")
    drivers = templates_for("human", subset)
    driver_name = drivers[rng.integers(len(drivers))]
    families = motions_for(subset)
    family = family or families[rng.integers(len(families))]
    reference_character = sample_character(ref_name, rng)
    driver = sample_character(driver_name, rng)
    motion = sample_motion(family, num_frames, rng, fps)
    background = sample_background(rng, dynamic=bool(rng.random() < DYNAMIC_PROBABILITY))
    driving_background = sample_background(rng, dynamic=False)

    # 2. Poses: same angles, own bone lengths, own fit.
    target_body, target_scale = place_motion(
        motion, reference_character.lengths, part_padding(reference_character), size, size, rng
    )
    driving_body, driving_scale = place_motion(motion, driver.lengths, part_padding(driver), size, size, rng)

    # 3. Pixels.
    bg = render_background(background, num_frames, size, size, fps)
    target, masks = _render(reference_character, target_body, target_scale, bg, fps)
    driving, _ = _render(
        driver,
        driving_body,
        driving_scale,
        render_background(driving_background, num_frames, size, size, fps),
        fps,
    )

    # 4. Words.
    captions = make_captions(
        reference_character.description, MOTION_VERBS[family], background, reference_character.pronoun
    )
    caption = pick_caption(captions, rng)

    target_poses = PoseSequence.from_body(target_body, size, size, fps)
    meta = {
        "kind": "synthetic",
        "split": split,
        "subset": subset,
        "seed": int(seed),
        "index": int(index),
        "width": size,
        "height": size,
        "num_frames": num_frames,
        "fps": fps,
        "motion": {"family": family, "held_out": family in HELD_OUT_MOTIONS, "params": motion.params,
                   "root": np.round(motion.root, 6).tolist()},  # fmt: skip
        "reference_character": reference_character.meta() | {"scale": target_scale, "held_out": ref_name in HELD_OUT_TEMPLATES},
        "driving_character": driver.meta() | {"scale": driving_scale},
        "background": background.to_dict(),
        "driving_background": driving_background.to_dict(),
        "caption": caption,
        "captions": captions,
    }  # fmt: skip
    return SynthCase(
        reference=target[0].copy(),
        driving=driving,
        poses=PoseSequence.from_body(driving_body, size, size, fps),
        target=target,
        target_poses=target_poses,
        reference_pose=target_poses[0],
        masks=masks,
        background=bg,
        caption=caption,
        meta=meta,
    )
