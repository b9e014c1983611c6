"""Memory modes (issue #21) on the tiny pipeline on CPU: pose inputs still act, output equals the plain run."""

from __future__ import annotations

import numpy as np
import pytest

from animatex.pipelines.memory import MemoryModeError, apply_memory_mode, parse_memory_mode
from animatex.pipelines.tiny import build_tiny_pipeline

# Mode -> (statistic, bound) of |output - plain run|: exact modes by the max; fp8 by the mean, as it rounds every
# cast weight (measured on this tiny random model: mean 0.019, max 0.39 of a [0, 1] range).
CPU_MODES = {
    "group-offload": ("max", 1e-6),
    "vae-tiling": ("max", 1e-6),
    "vae-slicing": ("max", 1e-6),
    "text-encoder-cpu": ("max", 1e-6),
    "fp8": ("mean", 0.03),
    "fp8+group-offload+vae-tiling": ("mean", 0.03),
}
POSE_INPUTS = ("pose_video", "ref_pose", "driving_video", "pose_keypoints")


def _pipe(mode: str | None):
    pipe = build_tiny_pipeline(seed=0)
    pipe.set_progress_bar_config(disable=True)
    apply_memory_mode(pipe, mode, "cpu")
    return pipe


_PLAIN: dict = {}


def _plain(make_inputs, run):
    """The plain run's output, computed once for the module."""
    if "video" not in _PLAIN:
        _PLAIN["video"] = run(_pipe(None), **make_inputs(9, 32, 32))
    return _PLAIN["video"]


@pytest.mark.parametrize("mode", list(CPU_MODES))
def test_mode_keeps_the_output_and_every_pose_input(mode, make_inputs, run):
    plain = _plain(make_inputs, run)
    pipe = _pipe(mode)
    inputs = make_inputs(9, 32, 32)
    out = run(pipe, **inputs)
    statistic, bound = CPU_MODES[mode]
    assert getattr(np.abs(out - plain), statistic)() <= bound
    other = make_inputs(9, 32, 32, seed=1)
    for name in POSE_INPUTS:
        changed = run(pipe, **{**inputs, name: other[name]})
        assert not np.array_equal(changed, out), f"{name} has no effect under --memory {mode}"


def test_fp8_stores_the_transformer_in_float8_but_not_the_pose_modules():
    import torch

    pipe = _pipe("fp8")
    assert pipe.transformer.blocks[0].attn1.to_q.weight.dtype == torch.float8_e4m3fn
    assert pipe.transformer.pose_guider.convs[0].weight.dtype == torch.float32
    assert pipe.transformer.pose_indicator.proj_out.weight.dtype == torch.float32


@pytest.mark.parametrize("mode", ["model-offload", "sequential-offload"])
def test_accelerator_only_modes_say_so_on_cpu(mode):
    with pytest.raises(MemoryModeError, match="accelerator"):
        _pipe(mode)


def test_mode_parsing():
    assert parse_memory_mode("fp8+group-offload") == ["fp8", "group-offload"]
    assert parse_memory_mode(None) == []
    with pytest.raises(MemoryModeError, match="unknown memory mode"):
        parse_memory_mode("fp4")
    with pytest.raises(MemoryModeError, match="one offload"):
        parse_memory_mode("group-offload+model-offload")


def test_fp8_on_the_cpu_lets_go_of_the_weights_file(tmp_path):
    """A loaded weight is a view of the mapped file, which stays resident while any view lives: after fp8 casts
    on a CPU the tensors it left uncast get memory of their own, with the same values, so the file can go."""
    import torch

    from animatex.pipelines import AnimateXPipeline

    build_tiny_pipeline(seed=0).save_pretrained(tmp_path)
    pipe = AnimateXPipeline.from_pretrained(tmp_path)
    uncast = {
        name: (p.data_ptr(), p.detach().clone())
        for name, p in pipe.transformer.named_parameters()
        if name.startswith(("pose_", "norm", "condition_embedder", "scale_shift")) or ".norm" in name
    }
    apply_memory_mode(pipe, "fp8")
    parameters = dict(pipe.transformer.named_parameters())
    kept = [name for name in uncast if parameters[name].dtype != torch.float8_e4m3fn]
    assert len(kept) > 10
    for name in kept:
        assert parameters[name].data_ptr() != uncast[name][0], name
        torch.testing.assert_close(parameters[name].detach(), uncast[name][1], rtol=0, atol=0)
