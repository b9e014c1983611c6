"""diffusers' step caches on AnimateXTransformer3DModel with every pose input (issue #21)."""

from __future__ import annotations

import pytest
import torch
from diffusers.hooks import FirstBlockCacheConfig, HookRegistry, MagCacheConfig, TaylorSeerCacheConfig
from test_transformer_animatex import _inputs, _wake_pose_indicator

from animatex.models.presets import build_transformer
from animatex.pipelines.speed import WAN_TAYLORSEER_MODULES, CacheSpecError, cache_config, parse_cache_spec


def _model():
    torch.manual_seed(0)
    model = build_transformer("tiny", num_layers=4, pose_indicator_blocks=(1, 3)).eval()
    _wake_pose_indicator(model)
    return model


def _skipping_configs():
    """Configs that skip every call after the first, so a repeat of the same inputs must return the same output."""
    return {
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


def _run(model, inputs, calls=2):
    outputs = []
    with torch.no_grad(), model.cache_context("cond"):
        for _ in range(calls):
            outputs.append(model(**inputs, return_dict=False)[0])
    return outputs


@pytest.mark.parametrize("name", ["fbc", "magcache", "taylorseer"])
def test_a_skipped_step_adds_the_ipi_once(name):
    """Same inputs twice: the second call is served from the cache and must equal the first. Before the IPI went
    in through a block hook, FBC and MagCache added it again on top of a cached residual that already held it."""
    model = _model()
    base, pose = _inputs()
    inputs = {**base, **pose}
    plain = _run(model, inputs, calls=1)[0]
    model.enable_cache(_skipping_configs()[name])
    first, second = _run(model, inputs)
    torch.testing.assert_close(first, plain)
    torch.testing.assert_close(second, plain, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", ["fbc", "magcache", "taylorseer"])
def test_pose_inputs_still_act_under_each_cache(name):
    model = _model()
    base, pose = _inputs()
    model.enable_cache(_skipping_configs()[name])
    with_pose = _run(model, {**base, **pose})
    model._reset_stateful_cache()
    without = _run(model, base)
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


def test_cache_spec_parsing():
    assert parse_cache_spec("fbc:0.2") == ("fbc", 0.2)
    assert parse_cache_spec("none") == ("none", None)
    with pytest.raises(CacheSpecError, match="unknown cache"):
        parse_cache_spec("teacache")
    with pytest.raises(CacheSpecError, match="calibrate"):
        cache_config("magcache", 10, model_dir=None)
