"""Clip sampling, task mix, EPI rate and condition dropout: counted over many draws, without training."""

import numpy as np
import pytest

from animatex.data.captions import STILL_PHRASES, mirror_caption
from animatex.pose import PoseSequence
from animatex.pose.skeleton import BODY_FLIP
from animatex.training.data import TrainingData
from animatex.training.encode import conditions_for
from animatex.training.sampling import (
    StepPlan,
    TrainingClip,
    clip_index,
    generator,
    hold_background,
    make_example,
    plan_step,
)


def within_binomial(count: int, n: int, p: float, sigmas: float = 4.5) -> bool:
    """|count - np| within `sigmas` standard deviations (false-alarm rate ~1e-5 per check)."""
    return abs(count - n * p) <= sigmas * np.sqrt(n * p * (1 - p)) + 1e-9


@pytest.mark.parametrize(("mix", "pose", "image", "text"), [(0.8, 0.05, 0.1, 0.0), (0.3, 0.5, 0.25, 0.2)])
def test_task_mix_and_dropout_rates_match_the_config(tiny_config, synth_root, mix, pose, image, text):
    config = tiny_config(
        synth_root,
        **{
            "tasks.mix": {"animate": mix, "ti2v": 1 - mix},
            "dropout": {"pose": pose, "image": image, "text": text},
        },
    )
    plans = [
        plan_step(config, step, micro, rank) for step in range(3000) for micro in (0, 1) for rank in (0, 1)
    ]
    n = len(plans)
    assert within_binomial(sum(p.task == "animate" for p in plans), n, mix)
    assert within_binomial(sum(p.drop_pose for p in plans), n, pose)
    assert within_binomial(sum(p.drop_image for p in plans), n, image)
    assert within_binomial(sum(p.drop_text for p in plans), n, text)
    # The task is one per step on every process and micro-batch (partial training steps one task at a time).
    for step in range(50):
        assert len({plan_step(config, step, m, r).task for m in (0, 1) for r in (0, 1, 2)}) == 1
    assert plan_step(config, 7, 1, 1) == plan_step(config, 7, 1, 1)


def test_only_one_task_when_the_other_weighs_nothing(tiny_config, synth_root):
    config = tiny_config(synth_root, **{"tasks.mix": {"animate": 1.0, "ti2v": 0.0}})
    assert {plan_step(config, step, 0, 0).task for step in range(200)} == {"animate"}


def test_dropout_removes_the_conditions():
    full = conditions_for(StepPlan("animate", False, False, False))
    assert conditions_for(StepPlan("animate", True, False, False)) == full - {
        "pose_video",
        "ref_pose",
        "pose_keypoints",
        "motion_embeds",
    }
    assert conditions_for(StepPlan("animate", False, True, False)) == full - {"y", "image_embeds"}
    # ti2v keeps only the IPI, as the release's is_i2v switch; pose dropout removes that too.
    assert conditions_for(StepPlan("ti2v", False, False, False)) == {"pose_keypoints", "motion_embeds"}
    assert conditions_for(StepPlan("ti2v", True, False, False)) == frozenset()


@pytest.mark.parametrize("probability", [0.98, 0.6])
def test_epi_rate_matches_lambda(tiny_config, synth_root, probability):
    config = tiny_config(synth_root, **{"epi.probability": probability, "data.height": 16, "data.width": 16})
    data = TrainingData(config)
    examples = [data.examples(step, 0, 0, 1)[0] for step in range(400)]
    assert within_binomial(sum(e.epi_applied for e in examples), len(examples), probability)
    # Applied EPI realigns onto a pool anchor (realign_probability 1) and changes the skeleton picture.
    assert all("realign" in e.epi for e in examples if e.epi_applied)


def test_epi_disabled_leaves_poses_alone(tiny_config, synth_root):
    data = TrainingData(tiny_config(synth_root, **{"epi.enabled": False}))
    assert not any(data.examples(step, 0, 0, 1)[0].epi_applied for step in range(20))


def fake_clip(num_frames: int, size: int = 32) -> TrainingClip:
    """Frame i is filled with the value i, so the chosen frames can be read back from the pixels."""
    frames = np.repeat(np.arange(num_frames, dtype=np.uint8)[:, None, None, None], size, 1)
    frames = np.repeat(np.repeat(frames, size, 2), 3, 3)
    body = np.zeros((num_frames, 18, 3), np.float32)
    body[:, :, 0] = np.linspace(8, 24, 18)
    body[:, :, 1] = np.linspace(4, 28, 18)[None] + np.arange(num_frames)[:, None] * 0.1
    body[:, :, 2] = 1.0
    return TrainingClip(frames, PoseSequence.from_body(body, size, size), "a fox dances")


@pytest.mark.parametrize(("num_frames", "stride"), [(5, 1), (5, 3), (9, 2)])
def test_clip_window_stride_and_reference(tiny_config, synth_root, num_frames, stride):
    config = tiny_config(synth_root, **{"data.num_frames": num_frames, "data.frame_stride": stride})
    clip = fake_clip(21)
    starts, references = set(), set()
    for seed in range(60):
        example = make_example(clip, config, None, None, generator(0, seed))
        picked = example.video[:, 0, 0, 0].astype(int)
        assert (
            example.video.shape == (num_frames, 32, 32, 3) and example.pose_video.shape == example.video.shape
        )
        assert np.all(np.diff(picked) == stride)
        assert example.keypoints.shape == (num_frames, 18, 2)
        starts.add(picked[0])
        references.add(int(example.reference[0, 0, 0]))
    span = (num_frames - 1) * stride + 1
    assert max(starts) <= 21 - span and len(starts) > 1
    assert len(references) > num_frames  # the reference is any frame of the clip, not only the window's


def test_short_clips_loop_instead_of_failing(tiny_config, synth_root):
    config = tiny_config(synth_root, **{"data.num_frames": 9, "data.frame_stride": 1})
    example = make_example(fake_clip(4), config, None, None, generator(0, 1))
    assert example.video[:, 0, 0, 0].tolist() == [0, 1, 2, 3, 2, 1, 0, 1, 2]


def test_clip_order_is_an_epoch_permutation_split_across_processes(tiny_config, synth_root):
    config = tiny_config(synth_root, **{"train.batch_size": 2})
    seen = [
        clip_index(config, 10, step, 0, rank, 2, sample)
        for step in range(5)
        for rank in (0, 1)
        for sample in (0, 1)
    ]
    assert sorted(seen[:10]) == list(range(10)) and sorted(seen[10:]) == list(range(10))
    assert seen[:10] != seen[10:]  # each epoch reshuffles


def _moving_background_clip(num_frames: int = 6, size: int = 16) -> TrainingClip:
    """A background whose every pixel changes each frame, a square 'character' that moves one pixel a frame."""
    rng = np.random.default_rng(0)
    background = rng.integers(0, 256, (num_frames, size, size, 3), dtype=np.uint8)
    masks = np.zeros((num_frames, size, size), bool)
    frames = background.copy()
    for t in range(num_frames):
        masks[t, 4:9, 2 + t : 7 + t] = True
        frames[t][masks[t]] = 200 + t
    clip = fake_clip(num_frames, size)
    return TrainingClip(
        frames, clip.poses, "a fox is dancing, snow falls quickly behind it.", masks, background
    )


def test_hold_background_keeps_the_character_and_stills_the_rest():
    clip = _moving_background_clip()
    held = hold_background(clip.frames, clip.masks, clip.background, 2)
    assert np.array_equal(held[2], clip.frames[2])  # the reference frame is untouched
    assert np.array_equal(held[clip.masks], clip.frames[clip.masks])  # the character moves as before
    outside = ~clip.masks.any(axis=0)
    assert np.all(held[:, outside] == clip.frames[2][outside])  # still outside, as frame 2 shows it
    # Where the character stood in frame 2 but has left, the clean background of frame 2 shows.
    uncovered = clip.masks[2] & ~clip.masks[4]
    assert np.array_equal(held[4][uncovered], clip.background[2][uncovered])
    with pytest.raises(ValueError, match="must match"):
        hold_background(clip.frames, clip.masks[:3], clip.background, 0)


def test_still_background_examples_say_so_and_do_not_move(tiny_config, synth_root):
    config = tiny_config(synth_root, **{"data.num_frames": 5, "data.height": 16, "data.width": 16})
    clip = _moving_background_clip()
    example = make_example(clip, config, None, None, generator(0, 3), still_background=True)
    assert example.caption.startswith("a fox is dancing, ") and "snow" not in example.caption
    assert example.caption[len("a fox is dancing, ") : -1] in STILL_PHRASES
    outside = ~clip.masks.any(axis=0)
    assert np.all(example.video[:, outside] == example.reference[outside])
    moving = make_example(clip, config, None, None, generator(0, 3))
    assert moving.caption == clip.caption and not np.all(moving.video[:, outside] == moving.video[0, outside])
    with pytest.raises(ValueError, match="masks and a clean background"):
        make_example(fake_clip(6, 16), config, None, None, generator(0, 3), still_background=True)


def test_mirrored_examples_are_the_mirror_image_with_a_mirrored_caption(tiny_config, synth_root):
    config = tiny_config(synth_root, **{"data.num_frames": 5, "data.height": 16, "data.width": 16})
    clip = _moving_background_clip()
    clip.caption = "a fox is dancing, clouds drift slowly to the left behind it."
    plain = make_example(clip, config, None, None, generator(0, 3))
    mirrored = make_example(clip, config, None, None, generator(0, 3), mirror=True)
    assert np.array_equal(mirrored.video, plain.video[:, :, ::-1])
    assert np.array_equal(mirrored.reference, plain.reference[:, ::-1])
    assert (
        mirrored.caption
        == mirror_caption(plain.caption)
        == "a fox is dancing, clouds drift slowly to the right behind it."
    )
    # The skeleton is mirrored with its sides renamed (x -> 15 - x on 16 pixels, left joints called right).
    flipped = plain.keypoints[:, list(BODY_FLIP)]
    np.testing.assert_allclose(mirrored.keypoints[..., 0], (15 - flipped[..., 0] * 16) / 16, atol=1e-6)
    np.testing.assert_allclose(mirrored.keypoints[..., 1], flipped[..., 1], atol=1e-6)


@pytest.mark.parametrize("rate", [0.0, 0.5])
def test_horizontal_flip_rate_matches_the_config(tiny_config, synth_root, rate):
    size = {"data.height": 16, "data.width": 16}
    flipped = TrainingData(tiny_config(synth_root, **{"data.horizontal_flip": rate, **size}))
    plain = TrainingData(tiny_config(synth_root, **size))
    pairs = [(flipped.examples(s, 0, 0, 1)[0], plain.examples(s, 0, 0, 1)[0]) for s in range(200)]
    mirrored = [
        np.array_equal(f.video, p.video[:, :, ::-1]) and not np.array_equal(f.video, p.video)
        for f, p in pairs
    ]
    assert within_binomial(sum(mirrored), len(pairs), rate)
    # The clip, window and reference frame are drawn as without flips.
    assert all(np.array_equal(f.video, p.video) for (f, p), m in zip(pairs, mirrored, strict=True) if not m)


def _says_still(caption: str) -> bool:
    return caption.split(", ", 1)[1].rstrip(".") in STILL_PHRASES


@pytest.mark.parametrize("rate", [0.0, 0.3])
def test_still_background_rate_matches_the_config(tiny_config, synth_root, rate):
    size = {"data.height": 16, "data.width": 16}
    held = TrainingData(tiny_config(synth_root, **{"data.still_background": rate, **size}))
    plain = TrainingData(tiny_config(synth_root, **size))
    steps = range(300)
    # Static synthetic backgrounds already say "the background does not move": count only the other clips.
    pairs = [(held.examples(s, 0, 0, 1)[0], plain.examples(s, 0, 0, 1)[0]) for s in steps]
    extra = [_says_still(h.caption) for h, p in pairs if not _says_still(p.caption)]
    assert within_binomial(sum(extra), len(extra), rate)
    # The clip, window and reference frame are drawn as without held backgrounds.
    assert all(h.ref_pose.tobytes() == p.ref_pose.tobytes() for h, p in pairs)
