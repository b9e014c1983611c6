"""`animatex plan` (issue #21): parameter counts from configs, and the memory modes' order."""

from __future__ import annotations

import pytest

from animatex.cli import main
from animatex.pipelines.plan import Workload, model_sizes, plan_modes, transformer_flops
from animatex.pipelines.tiny import build_tiny_pipeline


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("plan_model")
    pipe = build_tiny_pipeline(seed=0)
    pipe.save_pretrained(path)
    return path, pipe


def test_counts_match_the_loaded_models(folder):
    path, pipe = folder
    sizes = model_sizes(path)
    for name in ("transformer", "vae", "text_encoder", "image_encoder"):
        assert sizes.params[name] == sum(p.numel() for p in getattr(pipe, name).parameters()), name


def test_modes_order_and_flops(folder):
    path, _ = folder
    sizes = model_sizes(path)
    work = Workload(256, 256, 33)
    plans = {p.mode: p for p in plan_modes(sizes, work, ["none", "fp8", "group-offload", "text-encoder-cpu"])}
    assert plans["fp8"].weights_bytes < plans["none"].weights_bytes
    assert plans["text-encoder-cpu"].weights_bytes < plans["none"].weights_bytes
    assert plans["none"].activation_bytes == plans["fp8"].activation_bytes
    assert transformer_flops(sizes.transformer_config, Workload(256, 256, 33, guidance_branches=2)) == 2 * (
        transformer_flops(sizes.transformer_config, work)
    )


def test_cli_prints_every_mode(folder, capsys):
    path, _ = folder
    assert main(["plan", "--model", str(path), "--size", "64x64", "--frames", "17"]) == 0
    out = capsys.readouterr().out
    assert "TFLOPs per step" in out and "group-offload" in out and "sequential-offload" in out
    assert "gguf-q4_0+group-offload" in out
    assert main(["plan", "--model", str(path), "--frames", "16"]) == 2
    assert "4k+1" in capsys.readouterr().err
