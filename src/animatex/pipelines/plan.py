"""Predicted peak device memory and FLOPs per step of `AnimateXPipeline` for each memory mode, from configs only.

Parameters are counted on the meta device (no weight is read); activations follow the shapes of one transformer
forward (one guidance branch at a time, as the pipeline runs them) and of the VAE decoder's largest feature
maps. The figures are estimates: docs/benchmarks.md compares them with measured peaks.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from animatex.models.transformer_animatex import num_latent_frames

COMPONENTS = ("text_encoder", "image_encoder", "transformer", "vae")
# Plan-only mode names for a GGUF transformer (`animatex animate --gguf FILE` of that type).
GGUF_PLAN_TYPES = {"gguf-q8_0": "Q8_0", "gguf-q4_0": "Q4_0"}
BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}
# The VAE decoder upsamples a latent frame into 4 pixel frames with feature maps of `base_dim * dim_mult[0]`
# channels at full resolution; a conv block keeps about this many such maps alive (input, output, residual,
# the causal cache of the previous frames and the padded copy a 3x3x3 conv reads).
VAE_LIVE_MAPS = 6
VAE_TILE = 256  # diffusers' AutoencoderKLWan tile_sample_min_height/width
NATIVE_CONV3D_MAX_NCTH = 20480  # see native_conv3d_columns


@dataclass
class ModelSizes:
    """Parameter counts of each component, and of the transformer's Linear weights fp8 casting stores in 1 byte."""

    params: dict[str, int] = field(default_factory=dict)
    transformer_cast_params: int = 0
    transformer_gguf_params: int = 0  # the weights `animatex quantize` quantises (`quantisable_keys`)
    largest_block_params: int = 0
    transformer_config: dict = field(default_factory=dict)
    vae_config: dict = field(default_factory=dict)


def _count_on_meta(build) -> torch.nn.Module:
    with torch.device("meta"):
        return build()


def model_sizes(model_dir: str | Path) -> ModelSizes:
    """Count every component's parameters of a pipeline folder, on the meta device (nothing is loaded)."""
    from diffusers import AutoencoderKLWan
    from transformers import AutoConfig, AutoModel, CLIPVisionModelWithProjection

    from animatex.convert.gguf import quantisable_keys
    from animatex.models.transformer_animatex import AnimateXTransformer3DModel

    model_dir = Path(model_dir)
    sizes = ModelSizes()
    for name in COMPONENTS:
        folder = model_dir / name
        if not (folder / "config.json").is_file():
            continue
        if name == "transformer":
            config = AnimateXTransformer3DModel.load_config(folder)
            module = _count_on_meta(lambda c=config: AnimateXTransformer3DModel.from_config(c))
            sizes.transformer_config = dict(config)
            skip = tuple(module._skip_layerwise_casting_patterns)
            for layer_name, layer in module.named_modules():
                if isinstance(layer, torch.nn.Linear | torch.nn.Conv3d) and not any(
                    p in layer_name for p in skip
                ):
                    sizes.transformer_cast_params += sum(p.numel() for p in layer.parameters(recurse=False))
            sizes.transformer_gguf_params = sum(
                module.get_parameter(k).numel() for k in quantisable_keys(module)
            )
            sizes.largest_block_params = max(sum(p.numel() for p in b.parameters()) for b in module.blocks)
        elif name == "vae":
            config = AutoencoderKLWan.load_config(folder)
            module = _count_on_meta(lambda c=config: AutoencoderKLWan.from_config(c))
            sizes.vae_config = dict(config)
        else:
            config = AutoConfig.from_pretrained(folder)
            if name == "image_encoder":
                module = _count_on_meta(lambda c=config: CLIPVisionModelWithProjection(c))
            else:
                module = _count_on_meta(lambda c=config: AutoModel.from_config(c))
        sizes.params[name] = sum(p.numel() for p in module.parameters())
    if not sizes.transformer_config:
        raise FileNotFoundError(
            f"{model_dir} has no transformer/config.json: pass an AnimateXPipeline folder"
        )
    return sizes


@dataclass
class Workload:
    width: int
    height: int
    num_frames: int
    text_tokens: int = 512
    image_tokens: int = 257
    guidance_branches: int = 1


def transformer_tokens(config: dict, work: Workload) -> int:
    p_t, p_h, p_w = config["patch_size"]
    factor = config.get("vae_scale_factor_spatial", 8)
    frames = num_latent_frames(work.num_frames) // p_t
    return frames * (work.height // factor // p_h) * (work.width // factor // p_w)


def transformer_flops(config: dict, work: Workload) -> float:
    """Multiply-adds x 2 of one denoising step (all guidance branches): linears and attention of every block."""
    tokens = transformer_tokens(config, work)
    dim = config["num_attention_heads"] * config["attention_head_dim"]
    context = work.text_tokens + (work.image_tokens if config.get("image_dim") else 0)
    per_block = (
        4 * tokens * dim * dim  # self-attention q, k, v, o
        + 2 * tokens * tokens * dim  # QK^T and attention x V
        + 2 * tokens * dim * dim  # cross-attention q, o
        + 2 * context * dim * dim  # cross-attention k, v of text and image tokens
        + 2 * tokens * context * dim  # cross-attention scores and values
        + 2 * tokens * dim * config["ffn_dim"]  # FFN up and down
    )
    return 2.0 * per_block * config["num_layers"] * work.guidance_branches


def transformer_activation_bytes(config: dict, work: Workload, dtype_bytes: int) -> int:
    """Live tensors of one forward at its widest point: the running tokens, the per-token IPI, rotary tables,
    and inside a block the FFN's two hidden-width tensors or attention's q, k, v, roped copies and output; the
    guidance branches run batched (the pipeline's default), so all but the rotary tables scale with them."""
    tokens = transformer_tokens(config, work)
    dim = config["num_attention_heads"] * config["attention_head_dim"]
    persistent = tokens * dim * (3 if config.get("use_pose_indicator", True) else 2)  # tokens, residual, IPI
    rope = 2 * tokens * config["attention_head_dim"] * 4  # cos and sin in fp32
    ffn = tokens * (2 * config["ffn_dim"] + dim)
    attention = tokens * dim * 6
    norm_fp32 = tokens * dim * 4 // dtype_bytes  # the block's norms run in fp32
    return (persistent + max(ffn, attention) + norm_fp32) * dtype_bytes * work.guidance_branches + rope


def vae_decode_bytes(
    vae_config: dict, work: Workload, dtype_bytes: int, tiled: bool, device: str = "cuda"
) -> int:
    channels = vae_config.get("decoder_base_dim") or vae_config.get("base_dim", 96)
    height, width = (
        (min(work.height, VAE_TILE), min(work.width, VAE_TILE)) if tiled else (work.height, work.width)
    )
    # Its full-resolution convs read 4 new frames and 2 cached ones, padded by one pixel.
    columns = native_conv3d_columns(channels, 6, height + 2, 4 * height * width, dtype_bytes, device)
    return VAE_LIVE_MAPS * channels * 4 * height * width * dtype_bytes + columns


def pose_guider_bytes(config: dict, work: Workload, dtype_bytes: int, device: str = "cuda") -> int:
    """The pose guider's full-resolution start: the padded pose video and its channels-last copy, then a conv
    output and its activation of `pose_guider_channels` each, over 4k+4 frames (it runs once per call)."""
    if not config.get("use_pose_guider", True):
        return 0
    channels = config.get("pose_guider_channels", 16)
    frames, voxels = work.num_frames + 3, (work.num_frames + 3) * work.height * work.width
    columns = max(
        native_conv3d_columns(c, frames, work.height, voxels, dtype_bytes, device) for c in (3, channels)
    )
    return (2 * 3 + 2 * channels) * voxels * dtype_bytes + columns


def native_conv3d_columns(
    channels: int, frames: int, height: int, out_voxels: int, dtype_bytes: int, device: str
) -> int:
    """The column buffer of PyTorch's native CPU conv3d (slow_conv3d: the input unfolded for all 27 kernel taps).

    A float32 batch-1 3x3x3 conv takes it instead of oneDNN when its input's N*C*T*H is at most 20480
    (ATen's `use_mkldnn` heuristic, checked in tests/pipelines/test_plan.py); on a GPU there is no such buffer.
    """
    if device != "cpu" or dtype_bytes != 4 or channels * frames * height > NATIVE_CONV3D_MAX_NCTH:
        return 0
    return channels * 27 * out_voxels * dtype_bytes


# What a process adds on top of its tensors, measured (benchmarks/bench_plan.py, docs/benchmarks.md): on the CPU the
# loader's leftovers, kernel-library pages first touched by the call and allocator slack, fitted on the demo model
# at 64x64 and checked on the other rows. Not measured for CUDA (no GPU here): its context and cuBLAS/cuDNN
# workspaces come on top of the prediction there.
RUNTIME_OVERHEAD_BYTES: dict[str, int] = {"cpu": 45 * 1024**2}


@dataclass
class Plan:
    mode: str
    peak_bytes: int
    weights_bytes: int
    activation_bytes: int
    # RUNTIME_OVERHEAD_BYTES of the device (included in peak_bytes); None: not measured for it
    runtime_bytes: int | None = None


def parse_plan_mode(mode: str) -> tuple[str | None, list[str]]:
    """ "gguf-q4_0+group-offload" -> ("gguf-q4_0", ["group-offload"]): a plan mode is a memory mode that may name
    one GGUF type for the transformer (checked, with `parse_memory_mode`'s messages)."""
    from animatex.pipelines.memory import MemoryModeError, parse_memory_mode

    names = [part.strip().lower() for part in mode.split("+")]
    gguf = [name for name in names if name in GGUF_PLAN_TYPES]
    if len(gguf) > 1:
        raise MemoryModeError(f"plan one GGUF type, not {' and '.join(gguf)}")
    return (gguf[0] if gguf else None), parse_memory_mode("+".join(n for n in names if n not in GGUF_PLAN_TYPES))


def plan_modes(
    sizes: ModelSizes, work: Workload, modes: list[str], dtype: str = "bf16", device: str = "cuda"
) -> list[Plan]:
    """Predicted peak device memory of one pipeline call for each memory mode string, on `device` ("cpu" adds
    the native conv buffers and the measured runtime overhead);
    "gguf-q8_0" or "gguf-q4_0" in a mode plans a GGUF transformer of that type (`animatex animate --gguf`)."""
    from animatex.convert.gguf import BYTES_PER_WEIGHT
    from animatex.pipelines.memory import MemoryModeError

    dtype_bytes = BYTES[dtype]
    weights = {name: count * dtype_bytes for name, count in sizes.params.items()}
    plans = []
    for mode in modes:
        gguf, parts = parse_plan_mode(mode)
        component_weights = dict(weights)
        block_bytes = sizes.largest_block_params * dtype_bytes
        gguf_dequantised = 0
        if gguf:  # the blocks' linear weights in GGUF bytes; each layer dequantises its weight in its forward
            if "fp8" in parts:
                raise MemoryModeError(
                    "fp8 and a GGUF transformer both store the transformer's weights: plan one"
                )
            saved = dtype_bytes - BYTES_PER_WEIGHT[GGUF_PLAN_TYPES[gguf]]
            component_weights["transformer"] -= int(sizes.transformer_gguf_params * saved)
            block_bytes -= int(sizes.transformer_gguf_params / sizes.transformer_config["num_layers"] * saved)
            config = sizes.transformer_config
            dim = config["num_attention_heads"] * config["attention_head_dim"]
            gguf_dequantised = max(config["ffn_dim"], dim) * dim * dtype_bytes
        if "fp8" in parts:  # on a CPU too: `release_weights_file` frees the fp32 file behind the cast weights
            component_weights["transformer"] -= sizes.transformer_cast_params * (dtype_bytes - 1)
        if "text-encoder-cpu" in parts:
            component_weights.pop("text_encoder", None)
        dit = transformer_activation_bytes(sizes.transformer_config, work, dtype_bytes)
        vae = vae_decode_bytes(sizes.vae_config, work, dtype_bytes, "vae-tiling" in parts, device)
        pose_guider = pose_guider_bytes(sizes.transformer_config, work, dtype_bytes, device)
        dit = max(dit + gguf_dequantised, pose_guider)  # one after the other
        if "model-offload" in parts:  # one model on the device at a time
            stages = [(component_weights["transformer"], dit), (component_weights.get("vae", 0), vae)]
            stages += [(component_weights.get(n, 0), 0) for n in ("text_encoder", "image_encoder")]
            weight, activation = max(stages, key=sum)
        elif "sequential-offload" in parts:  # one layer at a time
            weight = block_bytes // 8
            activation = max(dit, vae)
        elif "group-offload" in parts:  # one block on the device (two while the next is prefetched)
            blocks = sizes.largest_block_params * sizes.transformer_config["num_layers"]
            non_block = sizes.params["transformer"] - blocks
            weight = sum(v for k, v in component_weights.items() if k != "transformer")
            weight += non_block * dtype_bytes + 2 * block_bytes
            activation = max(dit, vae)
        else:
            weight, activation = sum(component_weights.values()), max(dit, vae)
        runtime = RUNTIME_OVERHEAD_BYTES.get(device)
        plans.append(Plan(mode, weight + activation + (runtime or 0), weight, activation, runtime))
    return plans


# ---- time -----------------------------------------------------------------------------------------------------
# Dense (no sparsity) bf16 tensor-core peaks in TFLOP/s from NVIDIA's data sheets, matched against
# `torch.cuda.get_device_name()`, longest name first (so "H100 PCIe" before "H100", "A100" before "A10").
GPU_BF16_TFLOPS: dict[str, float] = {
    "H200": 989.0, "H100 PCIe": 756.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "RTX 4090": 165.0,
    "L4": 121.0, "A10": 125.0,
}  # fmt: skip
ASSUMED_MFU = 0.4  # the fraction of that peak the DiT is assumed to reach: an assumption, not measured here
# The fraction of the CPU matmul probe's rate a demo-model call reached at 256 and 384 px (1/4.2 and 1/3.6,
# benchmarks/bench_plan.py --time, docs/benchmarks.md).
CPU_EFFICIENCY = 0.25


@dataclass
class Throughput:
    tflops: float  # effective TFLOP/s the estimate divides by
    source: str  # how it was obtained, printed beside the estimate


def gpu_peak_tflops(name: str) -> float | None:
    """The dense bf16 peak of a GPU named like `torch.cuda.get_device_name()` ("NVIDIA H100 80GB HBM3"), if known."""
    for key in sorted(GPU_BF16_TFLOPS, key=len, reverse=True):  # a whole word: "A10" is not "A10G"
        if re.search(rf"(?<![a-z0-9]){re.escape(key.lower())}(?![a-z0-9])", name.lower()):
            return GPU_BF16_TFLOPS[key]
    return None


def cpu_matmul_tflops(seconds: float = 0.2, n: int = 512) -> float:
    """Measured float32 matmul TFLOP/s of this CPU with torch's current thread count (a ~`seconds` probe)."""
    import time

    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        a @ b
        count += 1
    return 2 * n**3 * count / elapsed / 1e12


@functools.lru_cache(maxsize=8)
def device_throughput(device: str, gpu: str | None = None, tflops: float | None = None) -> Throughput | None:
    """Effective TFLOP/s on `device`: `tflops` as given, a known GPU's bf16 peak x ASSUMED_MFU, or (CPU) a
    measured matmul probe x CPU_EFFICIENCY; None for a GPU not in GPU_BF16_TFLOPS (the caller asks for --tflops)."""
    if tflops is not None:
        return Throughput(tflops, "as given")
    if torch.device(device).type == "cpu" and gpu is None:
        probe = cpu_matmul_tflops()
        source = f"measured fp32 matmul probe {probe * 1e3:.0f} GFLOP/s x CPU efficiency {CPU_EFFICIENCY:g}"
        return Throughput(probe * CPU_EFFICIENCY, source)
    if gpu is None and torch.cuda.is_available():
        gpu = torch.cuda.get_device_name(torch.device(device))
    peak = gpu_peak_tflops(gpu or "")
    if peak is None:
        return None
    return Throughput(peak * ASSUMED_MFU, f"{gpu}: {peak:g} TFLOP/s bf16 peak x assumed MFU {ASSUMED_MFU:g}")


def once_per_call_flops(config: dict, vae_config: dict, work: Workload) -> float:
    """FLOPs of what runs once per call: the VAE encoding the condition video and decoding the result, and the
    pose guider. Counted by running them on the meta device (`torch.utils.flop_counter`, nothing computed) on a
    5-frame 64x64 clip and scaled by the number of pixels: all three are convolutions (the VAE's one attention
    per frame at 1/8 resolution is negligible)."""
    from diffusers import AutoencoderKLWan
    from torch.utils.flop_counter import FlopCounterMode

    from animatex.models.transformer_animatex import PoseGuider

    frames, side = 5, 64
    with torch.device("meta"), FlopCounterMode(display=False) as counter:
        vae = AutoencoderKLWan.from_config(vae_config)
        vae.decode(vae.encode(torch.empty(1, 3, frames, side, side)).latent_dist.mode())
        if config.get("use_pose_guider", True):
            dim = config["num_attention_heads"] * config["attention_head_dim"]
            channels = config.get("pose_guider_channels", 16)
            factor = config.get("vae_scale_factor_spatial", 8)
            guider = PoseGuider(dim, channels, tuple(config["patch_size"]), factor)
            guider(torch.empty(1, 3, frames, side, side))
    scale = work.num_frames * work.height * work.width / (frames * side * side)
    return float(counter.get_total_flops()) * scale


def call_seconds(
    config: dict, vae_config: dict, work: Workload, steps: int, throughput: Throughput, windows: int = 1
) -> float:
    """Estimated seconds of a call: `windows` runs of `steps` transformer steps and the once-per-call parts."""
    flops = steps * transformer_flops(config, work) + once_per_call_flops(config, vae_config, work)
    return windows * flops / (throughput.tflops * 1e12)


def pipeline_call_seconds(pipe, work: Workload, steps: int, windows: int = 1) -> float | None:
    """`call_seconds` of a loaded pipeline on its execution device; None where no throughput is known."""
    device = pipe._execution_device
    throughput = device_throughput(str(device))
    if throughput is None:
        return None
    return call_seconds(
        dict(pipe.transformer.config), dict(pipe.vae.config), work, steps, throughput, windows
    )
