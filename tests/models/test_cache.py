"""diffusers' step caches on AnimateXTransformer3DModel with every pose input (issue #21)."""

from __future__ import annotations

import pytest
import torch
from diffusers.hooks import FirstBlockCacheConfig, HookRegistry, MagCacheConfig, TaylorSeerCacheConfig
from test_transformer_animatex import _inputs, _wake_pose_indicator

from animatex.models.presets import build_transformer
from animatex.pipelines.speed import (
    WAN_TAYLORSEER_MODULES,
    CacheSpecError,
    cache_config,
    check_one_call_per_step,
    parse_cache_spec,
)

CACHES = ["fbc", "magcache", "taylorseer", "pab", "fastercache"]


class Clock:
    """The step's timestep as PAB and FasterCache read it (the pipeline's `current_timestep`): the first call runs
    at 999, outside their skip ranges (FasterCache must compute its first call), every later one at 500."""

    def __init__(self):
        self.timestep = 999

    def __call__(self) -> int:
        return self.timestep


def _model():
    torch.manual_seed(0)
    model = build_transformer("tiny", num_layers=4, pose_indicator_blocks=(1, 3)).eval()
    _wake_pose_indicator(model)
    return model


def _skipping_configs(clock=None):
    """Configs that skip every call after the first, so a repeat of the same inputs must return the same output."""
    clock = clock or Clock()
    return {
        "pab": cache_config("pab:10", 10, current_timestep=clock),
        "fastercache": cache_config("fastercache:10", 10, current_timestep=clock),
        "fbc": FirstBlockCacheConfig(threshold=1e9),
        "magcache": MagCacheConfig(
            threshold=1e9, num_inference_steps=3, mag_ratios=[1.0] * 3, retention_ratio=0.0
        ),
        "taylorseer": TaylorSeerCacheConfig(
            cache_interval=10,
            disable_cache_before_step=1,
            cache_identifiers=WAN_TAYLORSEER_MODULES,
            taylor_factors_dtype=torch.float32,
        ),
    }


def _run(model, inputs, calls=2, clock=None):
    outputs = []
    with torch.no_grad(), model.cache_context("cond"):
        for _ in range(calls):
            outputs.append(model(**inputs, return_dict=False)[0])
            if clock is not None:
                clock.timestep = 500
    return outputs


@pytest.mark.parametrize("name", CACHES)
def test_a_skipped_step_adds_the_ipi_once(name):
    """Same inputs twice: the second call is served from the cache and must equal the first. Before the IPI went
    in through a block hook, FBC and MagCache added it again on top of a cached residual that already held it."""
    model = _model()
    base, pose = _inputs()
    inputs = {**base, **pose}
    plain = _run(model, inputs, calls=1)[0]
    clock = Clock()
    model.enable_cache(_skipping_configs(clock)[name])
    first, second = _run(model, inputs, clock=clock)
    torch.testing.assert_close(first, plain)
    torch.testing.assert_close(second, plain, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", CACHES)
def test_pose_inputs_still_act_under_each_cache(name):
    model = _model()
    base, pose = _inputs()
    clock = Clock()
    model.enable_cache(_skipping_configs(clock)[name])
    with_pose = _run(model, {**base, **pose}, clock=clock)
    model._reset_stateful_cache()
    clock.timestep = 999
    without = _run(model, base, clock=clock)
    for a, b in zip(with_pose, without, strict=True):
        assert (a - b).abs().max() > 1e-3


def test_taylorseer_engages_on_wan_blocks():
    """diffusers' default TaylorSeer patterns hook no module of a Wan transformer; ours hook attn1/attn2/ffn."""
    model = _model()
    config = cache_config("taylorseer", num_inference_steps=10)
    model.enable_cache(config)
    hooked = [n for n, m in model.named_modules() if HookRegistry.check_if_exists_or_initialize(m).get_hook(
        "taylorseer_cache") is not None]  # fmt: skip
    assert len(hooked) == 3 * model.config.num_layers


@pytest.mark.parametrize(
    ("spec", "computed"), [("pab:2", [8, 0, 4, 0, 8]), ("fastercache:2", [8, 4, 8, 4, 8])]
)
def test_pab_and_fastercache_skip_wan_attention(spec, computed):
    """Attention computations per call (a forward hook on each query projection): PAB reuses self-attention
    (attn1) every other call and cross-attention (attn2) three calls in four; FasterCache reuses attn1 only (every
    other call once the timestep is in its range: the first call, at 999, is not) and always computes attn2."""
    model = _model()
    counted = []
    for block in model.blocks:
        for attention in (block.attn1, block.attn2):
            attention.to_q.register_forward_hook(lambda *_: counted.append(1))
    clock = Clock()
    clock.timestep = 500 if spec.startswith("pab") else 999
    model.enable_cache(cache_config(spec, 10, current_timestep=clock))
    base, pose = _inputs()
    per_call = []
    with torch.no_grad():
        for _ in range(5):
            counted.clear()
            model(**base, **pose, return_dict=False)
            per_call.append(len(counted))
            clock.timestep = 500
    assert per_call == computed


def test_pab_shares_one_state_between_branches():
    """Why the pipeline refuses PAB (and FasterCache) with guidance: their hooks ignore `cache_context`, so the
    unconditional branch is handed the conditional branch's attention output."""
    model = _model()
    base, pose = _inputs()
    with torch.no_grad():
        uncond = model(**base, return_dict=False)[0]
        model.enable_cache(cache_config("pab:2", 10, current_timestep=lambda: 500))
        with model.cache_context("cond"):
            model(**base, **pose, return_dict=False)
        with model.cache_context("uncond"):
            mixed = model(**base, return_dict=False)[0]
    assert (mixed - uncond).abs().max() > 1e-2
    with pytest.raises(CacheSpecError, match="--guidance 1"):
        check_one_call_per_step(model, branches=2, context_windows=False)
    with pytest.raises(CacheSpecError, match="window-strategy chain"):
        check_one_call_per_step(model, branches=1, context_windows=True)
    check_one_call_per_step(model, branches=1, context_windows=False)
    model.disable_cache()
    model.enable_cache(cache_config("fbc", 10))
    check_one_call_per_step(model, branches=2, context_windows=True)


def test_cache_spec_parsing():
    assert parse_cache_spec("fbc:0.2") == ("fbc", 0.2)
    assert parse_cache_spec("none") == ("none", None)
    with pytest.raises(CacheSpecError, match="unknown cache"):
        parse_cache_spec("teacache")
    with pytest.raises(CacheSpecError, match="calibrate"):
        cache_config("magcache", 10, model_dir=None)
    for spec in ("pab:0", "fastercache:1.5"):
        with pytest.raises(CacheSpecError, match="whole range"):
            cache_config(spec, 10, current_timestep=lambda: 500)
