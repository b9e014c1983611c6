"""`animatex plan` (issue #21): parameter counts from configs, the memory modes' order, the CPU terms, time estimates."""

from __future__ import annotations

import pytest
import torch

from animatex.cli import main
from animatex.pipelines.plan import (
    ASSUMED_MFU,
    RUNTIME_OVERHEAD_BYTES,
    Throughput,
    Workload,
    call_seconds,
    device_throughput,
    gpu_peak_tflops,
    model_sizes,
    once_per_call_flops,
    plan_modes,
    transformer_flops,
)
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


def test_cli_plans_one_gguf_mode_in_the_cpus_dtype(folder, capsys):
    path, _ = folder
    args = ["plan", "--model", str(path), "--size", "64x64", "--frames", "17", "--device", "cpu"]
    assert main([*args, "--memory", "gguf-q4_0+group-offload"]) == 0
    out = capsys.readouterr().out
    assert "fp32 on cpu" in out and "gguf-q4_0+group-offload" in out
    assert main([*args, "--memory", "gguf-q4_0+gguf-q8_0"]) == 2
    assert "plan one GGUF type" in capsys.readouterr().err


def test_native_conv3d_columns_follow_torch_choice():
    """The CPU column buffer is predicted exactly where torch runs its native conv3d (slow_conv3d), not oneDNN."""
    from torch.profiler import profile

    from animatex.pipelines.plan import native_conv3d_columns

    conv = torch.nn.Conv3d(16, 16, 3, padding=1)
    for frames in (20, 21):  # N*C*T*H = 20480 (native) and 21504 (oneDNN)
        with profile() as prof:
            conv(torch.randn(1, 16, frames, 64, 64))
        native = any("slow_conv3d" in event.name for event in prof.events())
        columns = native_conv3d_columns(16, frames, 64, frames * 64 * 64, 4, "cpu")
        assert native == (columns > 0), frames
        assert native_conv3d_columns(16, frames, 64, frames * 64 * 64, 4, "cuda") == 0


def test_cpu_plan_adds_its_measured_terms(folder):
    path, _ = folder
    sizes = model_sizes(path)
    work = Workload(64, 64, 17)
    gpu, cpu = (plan_modes(sizes, work, ["none"], "fp32", device)[0] for device in ("cuda", "cpu"))
    assert gpu.runtime_bytes is None and cpu.runtime_bytes == RUNTIME_OVERHEAD_BYTES["cpu"]
    # The tiny pose guider's 4-channel full-resolution convs take the native kernel at 64 px.
    assert cpu.activation_bytes > gpu.activation_bytes
    assert cpu.peak_bytes == cpu.weights_bytes + cpu.activation_bytes + cpu.runtime_bytes


def test_gpu_names_and_time_estimates(folder):
    path, _ = folder
    assert gpu_peak_tflops("NVIDIA H100 80GB HBM3") == 989 and gpu_peak_tflops("NVIDIA H100 PCIe") == 756
    assert (
        gpu_peak_tflops("NVIDIA A100-SXM4-80GB") == 312 and gpu_peak_tflops("NVIDIA GeForce RTX 4090") == 165
    )
    assert gpu_peak_tflops("NVIDIA A10G") is None and gpu_peak_tflops("NVIDIA L40S") == 362
    assert device_throughput("cuda", "H200").tflops == pytest.approx(989 * ASSUMED_MFU)
    assert device_throughput("cuda", "B200") is None
    assert device_throughput("cpu").tflops > 0
    sizes = model_sizes(path)
    config, vae = sizes.transformer_config, sizes.vae_config
    rate = Throughput(1.0, "test")
    once = once_per_call_flops(config, vae, Workload(64, 64, 17))
    assert once > 0 and once_per_call_flops(config, vae, Workload(128, 64, 17)) == pytest.approx(2 * once)
    one, four = (call_seconds(config, vae, Workload(64, 64, 17), steps, rate) for steps in (1, 4))
    assert four - one == pytest.approx(3 * transformer_flops(config, Workload(64, 64, 17)) / 1e12)


def test_cli_prints_overhead_and_time(folder, capsys):
    path, _ = folder
    assert main(["plan", "--model", str(path), "--size", "64x64", "--frames", "17", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "cpu runtime overhead" in out and "measured fp32 matmul probe" in out and "s per step" in out
    assert main(["plan", "--model", str(path), "--frames", "17", "--gpu", "H100"]) == 0
    out = capsys.readouterr().out
    assert "not measured" in out and "assumed MFU 0.4" in out
    assert main(["plan", "--model", str(path), "--frames", "17", "--gpu", "B200"]) == 0
    assert "pass --tflops" in capsys.readouterr().out
