"""Guidance branches batched into one transformer forward (`batch_guidance`, issue #21): the same output as one
forward per branch, with every pose input, the text-padding mask, windows and step caches."""

import numpy as np
import pytest
import torch
from diffusers.hooks import FirstBlockCacheConfig, MagCacheConfig, TaylorSeerCacheConfig

from animatex.models.transformer_animatex import AnimateXPoseFeatures
from animatex.pipelines.speed import WAN_TAYLORSEER_MODULES
from animatex.pipelines.tiny import build_tiny_pipeline
from animatex.pipelines.windows import WindowSettings

GUIDANCE = [(3.0, 1.0), (1.0, 3.0), (3.0, 2.0)]  # CFG, text guidance, both


def _latents(pipe, inputs, batched, **kwargs):
    kwargs.setdefault("num_inference_steps", 3)
    return pipe(
        **inputs, generator=torch.Generator().manual_seed(0), output_type="latent", batch_guidance=batched,
        **kwargs,
    ).frames  # fmt: skip


def _assert_batched_equals_unbatched(pipe, inputs, **kwargs):
    unbatched = _latents(pipe, inputs, False, **kwargs)
    batched = _latents(pipe, inputs, True, **kwargs)
    torch.testing.assert_close(batched, unbatched, atol=1e-5, rtol=1e-5)


@pytest.fixture(scope="module")
def masked_pipe():
    """The demo model's text handling: padding masked out of the cross-attention, prompts cut to the longest."""
    pipe = build_tiny_pipeline(seed=0, mask_text_padding=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.mark.parametrize(("guidance", "text_guidance"), GUIDANCE)
@pytest.mark.parametrize(
    "dropped",
    [(), ("driving_video", "pose_keypoints"), ("ref_pose",), ("driving_video", "pose_keypoints", "ref_pose")],
)
def test_batched_guidance_equals_one_forward_per_branch(pipe, make_inputs, guidance, text_guidance, dropped):
    inputs = {k: v for k, v in make_inputs().items() if k not in dropped}
    _assert_batched_equals_unbatched(pipe, inputs, guidance_scale=guidance, text_guidance_scale=text_guidance)


@pytest.mark.parametrize(("guidance", "text_guidance"), GUIDANCE)
def test_batched_guidance_with_prompts_of_different_lengths(
    masked_pipe, make_inputs, guidance, text_guidance
):
    """The branches' prompts differ in length: the processor's mask keeps each row to its own prompt."""
    inputs = {**make_inputs(), "negative_prompt": "blurry, static, low quality, extra limbs, deformed hands"}
    _assert_batched_equals_unbatched(
        masked_pipe, inputs, guidance_scale=guidance, text_guidance_scale=text_guidance
    )


def test_batched_guidance_with_two_prompts(masked_pipe, make_inputs):
    inputs = {**make_inputs(), "prompt": ["a cat", "a cat dances in the rain under a red umbrella"]}
    _assert_batched_equals_unbatched(masked_pipe, inputs, guidance_scale=3.0, text_guidance_scale=2.0)


def test_batched_guidance_in_ti2v(pipe, make_inputs):
    _assert_batched_equals_unbatched(pipe, make_inputs(), guidance_scale=3.0, task="ti2v")


@pytest.mark.parametrize("windows", [WindowSettings("chain", 9, 5), WindowSettings("context", 9, 4)])
def test_batched_guidance_in_windows(pipe, make_inputs, windows):
    inputs = make_inputs(14, 16, 16)
    frames = {
        batched: pipe(
            **inputs, num_inference_steps=2, guidance_scale=3.0, text_guidance_scale=2.0, windows=windows,
            generator=torch.Generator().manual_seed(0), batch_guidance=batched,
        ).frames
        for batched in (False, True)
    }  # fmt: skip
    assert frames[True].shape == (1, 14, 16, 16, 3)
    np.testing.assert_allclose(frames[True], frames[False], atol=1e-5)


def _cache_configs():
    """TaylorSeer and MagCache decide from the step index alone, so both runs skip the same steps. FBC decides from
    the first block's change, over the whole batch when batched: a threshold no change reaches keeps the decisions
    equal (skip every step after the first)."""
    return {
        "taylorseer": TaylorSeerCacheConfig(
            cache_interval=2, disable_cache_before_step=1, cache_identifiers=WAN_TAYLORSEER_MODULES,
            taylor_factors_dtype=torch.float32,
        ),
        "magcache": MagCacheConfig(threshold=1.0, num_inference_steps=4, mag_ratios=[1.0, 0.9, 0.95, 0.97], retention_ratio=0.0),
        "fbc": FirstBlockCacheConfig(threshold=1e9),
    }  # fmt: skip


@pytest.mark.parametrize("name", ["taylorseer", "magcache", "fbc"])
def test_batched_guidance_under_a_step_cache(make_inputs, name):
    pipe = build_tiny_pipeline(seed=0)
    pipe.set_progress_bar_config(disable=True)
    inputs = make_inputs()
    kwargs = dict(guidance_scale=3.0, text_guidance_scale=2.0, num_inference_steps=4)
    plain = _latents(pipe, inputs, False, **kwargs)
    pipe.transformer.enable_cache(_cache_configs()[name])
    unbatched = _latents(pipe, inputs, False, **kwargs)
    batched = _latents(pipe, inputs, True, **kwargs)
    assert not torch.allclose(unbatched, plain, atol=1e-4)  # the cache did skip work
    torch.testing.assert_close(batched, unbatched, atol=1e-5, rtol=1e-5)


def test_batched_guidance_runs_one_forward_per_step(pipe, make_inputs):
    batches = []
    handle = pipe.transformer.register_forward_pre_hook(
        lambda module, args, kwargs: batches.append(kwargs["hidden_states"].shape[0]), with_kwargs=True
    )
    try:
        _latents(pipe, make_inputs(), True, guidance_scale=3.0, text_guidance_scale=2.0)
        assert batches == [3, 3, 3]
        batches.clear()
        _latents(pipe, make_inputs(), False, guidance_scale=3.0, text_guidance_scale=2.0)
        assert batches == [1] * 9
    finally:
        handle.remove()


def test_guidance_batched_decides(pipe):
    pipe._guidance_scale, pipe._text_guidance_scale = 3.0, 1.0
    cpu = torch.device("cpu")
    assert pipe.guidance_batched(None, 1, 32, 32, 9, cpu)  # no GPU memory to run short of
    assert not pipe.guidance_batched(False, 1, 32, 32, 9, cpu)
    pipe._guidance_scale = 1.0
    assert not pipe.guidance_batched(True, 1, 32, 32, 9, cpu)  # one branch: nothing to batch
    with pytest.raises(ValueError, match="batch_guidance"):
        pipe.guidance_batched("yes", 1, 32, 32, 9, cpu)


def test_pose_features_cat_fills_a_missing_feature_with_zeros():
    states = torch.randn(2, 3, 1, 2, 2)
    indicator = torch.randn(2, 1, 3)
    features = AnimateXPoseFeatures.cat(
        [
            AnimateXPoseFeatures(pose_states=states, pose_indicator_states=indicator),
            AnimateXPoseFeatures(pose_indicator_states=indicator),
        ]
    )
    assert torch.equal(features.pose_states, torch.cat([states, torch.zeros_like(states)]))
    assert torch.equal(features.pose_indicator_states, torch.cat([indicator, indicator]))
    assert features.ref_pose_embeds is None
