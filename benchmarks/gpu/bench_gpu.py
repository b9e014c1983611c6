"""GPU benchmark of one transformer step (issue #21), driven by benchmarks/gpu/run.sh; writes one JSON.

Random weights of a preset size (default the full Wan2.1-I2V-14B layout) in bf16, one guidance branch at
--size/--frames with every pose condition (features computed once, as the pipeline does):
1. our step vs diffusers' `WanTransformer3DModel` of the same config (ratio; target <= 1.05) and MFU;
2. s/step and peak memory for each transformer memory mode (none, fp8 layerwise casting, group offload with
   CUDA streams) on a fresh model each;
3. each step cache's speed-up over a short Euler loop (random weights: speed only, no quality);
4. CFG's two branches as two forwards against one batched forward (`AnimateXPoseFeatures.cat`), time and peak;
5. compiled blocks (`compile_transformer`): the first call (compiling) and s/step against eager, one branch;
6. s/step of each attention backend this machine runs (`check_attention_backend`), one branch.
Sections that would overrun --budget-s are skipped and say so; `--sections 4 5 6` runs only those (0-3 are
the ones above and "0" the pipeline memory modes). On a CPU (the dry run) peaks are process RSS.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from diffusers import WanTransformer3DModel  # noqa: E402

from animatex.models.presets import build_transformer  # noqa: E402
from animatex.models.transformer_animatex import AnimateXPoseFeatures  # noqa: E402
from animatex.pipelines.plan import Workload, transformer_flops  # noqa: E402
from animatex.pipelines.speed import (  # noqa: E402
    SpeedOptionError,
    cache_config,
    check_attention_backend,
    compile_transformer,
)

WAN_FIELDS = (
    "patch_size", "num_attention_heads", "attention_head_dim", "in_channels", "out_channels", "text_dim",
    "freq_dim", "ffn_dim", "num_layers", "cross_attn_norm", "qk_norm", "eps", "image_dim", "added_kv_proj_dim",
    "rope_max_seq_len", "pos_embed_seq_len",
)  # fmt: skip
ATTENTION_BACKENDS = (
    "native",
    "_native_flash",
    "_native_cudnn",
    "_native_efficient",
    "flash",
    "sage",
    "xformers",
)
BF16_PEAK_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12}  # dense, vendor data sheets


def peak_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device)
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM"):
            return int(line.split()[1]) * 1024
    return 0


def reset_peak(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def build(
    preset: str, dtype: torch.dtype, device: torch.device, wan_config: dict | None = None
) -> torch.nn.Module:
    """A random model built directly on `device` in `dtype`: ours of `preset`, or diffusers' Wan of `wan_config`."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            if wan_config is not None:
                model = WanTransformer3DModel(**{k: wan_config[k] for k in WAN_FIELDS})
            else:
                model = build_transformer(preset)
    finally:
        torch.set_default_dtype(previous)
    return model.eval().requires_grad_(False)


def step_inputs(model, width: int, height: int, frames: int, dtype, device, pose: bool = True) -> dict:
    config = model.config
    factor = config.get("vae_scale_factor_spatial", 8)
    latent_frames = (frames - 1) // 4 + 1
    g = torch.Generator(device).manual_seed(0)
    inputs = {
        "hidden_states": torch.randn(
            1,
            config.in_channels,
            latent_frames,
            height // factor,
            width // factor,
            generator=g,
            device=device,
        ).to(dtype),
        "timestep": torch.tensor([500.0], device=device),
        "encoder_hidden_states": torch.randn(1, 512, config.text_dim, generator=g, device=device).to(dtype),
        "encoder_hidden_states_image": torch.randn(1, 257, config.image_dim, generator=g, device=device).to(
            dtype
        ),
    }
    if pose:
        with torch.no_grad():
            inputs["pose_features"] = model.encode_pose_conditions(
                pose_video=torch.rand(1, 3, frames, height, width, generator=g, device=device).to(dtype),
                ref_pose=torch.rand(1, 3, height, width, generator=g, device=device).to(dtype),
                pose_keypoints=torch.rand(1, frames, config.num_keypoints, 2, generator=g, device=device),
                motion_embeds=torch.randn(1, frames, config.motion_embed_dim, generator=g, device=device).to(
                    dtype
                ),
            )
    return inputs


def time_steps(model, inputs: dict, device, repeats: int) -> float:
    """Median seconds of one forward over `repeats` after one warm-up."""
    times = []
    with torch.no_grad():
        for index in range(repeats + 1):
            sync(device)
            start = time.perf_counter()
            model(**inputs, return_dict=False)
            sync(device)
            if index:
                times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def euler_loop(model, inputs: dict, device, steps: int) -> float:
    """Seconds of a `steps`-step flow-matching Euler loop on the latent part of the inputs (one branch)."""
    latents_channels = model.config.out_channels
    hidden = inputs["hidden_states"].clone()
    sigmas = torch.linspace(1.0, 0.0, steps + 1)
    sync(device)
    start = time.perf_counter()
    with torch.no_grad(), model.cache_context("cond"):
        for index in range(steps):
            timestep = torch.tensor([sigmas[index] * 1000], device=device)
            velocity = model(**{**inputs, "hidden_states": hidden, "timestep": timestep}, return_dict=False)[
                0
            ]
            hidden[:, :latents_channels] += (sigmas[index + 1] - sigmas[index]) * velocity
    sync(device)
    return time.perf_counter() - start


def pipeline_modes(device: torch.device) -> dict:
    import numpy as np

    from animatex.animate import load_pipeline
    from animatex.data.world import make_case
    from animatex.errors import AnimatexError
    from animatex.pipelines.speed import synth_case_inputs

    inputs = synth_case_inputs(make_case(0, "human", "test", 0, 64, 17))
    other = synth_case_inputs(make_case(0, "human", "test", 1, 64, 17))
    pose_names = ("pose_video", "ref_pose", "pose_keypoints", "driving_video")
    modes: dict = {}
    plain = None
    for mode in ("none", "model-offload", "sequential-offload", "group-offload", "fp8", "text-encoder-cpu"):
        reset_peak(device)
        try:
            pipe = load_pipeline(None, str(device), memory=None if mode == "none" else mode)
        except AnimatexError as error:
            modes[mode] = {"refused": str(error)}
            continue
        pipe.set_progress_bar_config(disable=True)

        def run(call_inputs: dict, pipe=pipe) -> np.ndarray:
            generator = torch.Generator().manual_seed(0)
            return pipe(**call_inputs, num_inference_steps=4, generator=generator).frames

        start = time.perf_counter()
        video = run(inputs)
        seconds = time.perf_counter() - start
        plain = video if plain is None else plain
        acting = {
            name: bool(np.abs(run({**inputs, name: other[name]}) - video).max() > 0) for name in pose_names
        }
        modes[mode] = {
            "max_abs_diff_vs_none": float(np.abs(video - plain).max()),
            "pose_inputs_act": acting,
            "call_s": seconds,
            "peak_bytes": peak_bytes(device),
        }
        del pipe
    return modes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="wan2.1-i2v-14b")
    parser.add_argument("--size", default="832x480")
    parser.add_argument("--frames", type=int, default=81)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cache-steps", type=int, default=10)
    parser.add_argument("--budget-s", type=float, default=480.0, help="skip sections that would overrun this")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--sections", type=int, nargs="+", default=list(range(7)), help="which sections to run"
    )
    args = parser.parse_args()
    began = time.perf_counter()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.bfloat16
    width, height = (int(v) for v in args.size.lower().split("x"))
    result: dict = {
        "preset": args.preset, "size": args.size, "frames": args.frames, "dtype": "bf16", "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__, "repeats": args.repeats, "skipped": [],
    }  # fmt: skip

    def save() -> None:
        result["wall_s"] = round(time.perf_counter() - began, 1)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")

    def left() -> float:
        return args.budget_s - (time.perf_counter() - began)

    # 0. Every pipeline memory mode on the demo model (small: seconds each): output against the plain run on
    # this device, each pose input still acting, peak memory. A mode the device cannot run records its message.
    if 0 in args.sections:
        result["pipeline_modes"] = pipeline_modes(device)
        save()

    # 1. Ours vs diffusers' Wan, same config and inputs (Wan without the pose features).
    reset_peak(device)
    ours = build(args.preset, dtype, device)
    config = dict(ours.config)
    inputs = step_inputs(ours, width, height, args.frames, dtype, device)
    ours_s = time_steps(ours, inputs, device, args.repeats)
    result["ours_s_per_step"] = ours_s
    result["ours_peak_bytes"] = peak_bytes(device)
    wan_inputs = {k: v for k, v in inputs.items() if k != "pose_features"}
    del ours
    reset_peak(device)
    wan = build(args.preset, dtype, device, wan_config=config)
    wan_s = time_steps(wan, wan_inputs, device, args.repeats)
    result["wan_s_per_step"] = wan_s
    result["ratio_ours_over_wan"] = ours_s / wan_s
    del wan
    flops = transformer_flops(config, Workload(width, height, args.frames))
    result["tflops_per_step"] = flops / 1e12
    name = result["device_name"]
    peak = next((v for k, v in BF16_PEAK_FLOPS.items() if k in name), None)
    result["mfu"] = flops / ours_s / peak if peak else None
    save()

    # 2. Memory modes on the transformer (a fresh model each).
    modes: dict = {}
    result["memory_modes"] = modes
    for mode in ("none", "fp8", "group-offload") if 2 in args.sections else ():
        if left() < 4 * ours_s * (args.repeats + 1) + 60:
            result["skipped"].append(f"memory mode {mode}: out of budget")
            continue
        reset_peak(device)
        model = build(args.preset, dtype, device)
        if mode == "fp8":
            model.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=dtype)
        elif mode == "group-offload":
            model.to("cpu")
            model.enable_group_offload(
                onload_device=device, offload_device=torch.device("cpu"), offload_type="block_level",
                num_blocks_per_group=1, use_stream=device.type == "cuda",
            )  # fmt: skip
        reset_peak(device)
        mode_inputs = step_inputs(model, width, height, args.frames, dtype, device)
        seconds = time_steps(model, mode_inputs, device, args.repeats)
        modes[mode] = {
            "s_per_step": seconds,
            "peak_bytes": peak_bytes(device),
            "time_ratio": seconds / ours_s,
        }
        del model, mode_inputs
        save()

    # 3. Step caches: a short Euler loop, uncached vs each cache.
    caches: dict = {}
    result["caches"] = caches
    if 3 not in args.sections:
        pass
    elif left() < 4 * ours_s * args.cache_steps + 30:
        result["skipped"].append("caches: out of budget")
    else:
        model = build(args.preset, dtype, device)
        inputs = step_inputs(model, width, height, args.frames, dtype, device)
        plain = euler_loop(model, inputs, device, args.cache_steps)
        caches["none"] = {"loop_s": plain}
        for spec in ("fbc", "taylorseer"):
            if left() < plain + 15:
                result["skipped"].append(f"cache {spec}: out of budget")
                continue
            model.enable_cache(cache_config(spec, args.cache_steps, dtype=dtype))
            seconds = euler_loop(model, inputs, device, args.cache_steps)
            model.disable_cache()
            caches[spec] = {"loop_s": seconds, "speedup": plain / seconds}
            save()
        del model, inputs

    # 4-6. Batched guidance, compiled blocks, attention backends: one model for the three.
    later = [section for section in (4, 5, 6) if section in args.sections]
    if later and left() < 2 * ours_s * (args.repeats + 1) + 60:
        result["skipped"].append("guidance, compile, attention: out of budget")
        later = []
    model = build(args.preset, dtype, device) if later else None
    inputs = step_inputs(model, width, height, args.frames, dtype, device) if later else None
    if 4 in later:
        result["guidance"] = batched_guidance(model, inputs, device, args.repeats, ours_s, left)
        save()
    if 5 in later:
        result["compile"] = compiled_step(model, inputs, device, args.repeats, ours_s, left)
        save()
    if 6 in later:
        result["attention_backends"] = attention_backends(model, inputs, device, args.repeats, ours_s, left)
    save()
    print(json.dumps(result, indent=1))


def batched_guidance(model, inputs: dict, device, repeats: int, step_s: float, left) -> dict:
    """CFG as the pipeline runs it: the conditional and the negative branch (no pose-guider tokens), as two
    forwards and as one forward over a batch of two."""
    if left() < 4 * step_s * (repeats + 1) + 30:
        return {"skipped": "out of budget"}
    features = inputs["pose_features"]
    uncond = {**inputs, "pose_features": AnimateXPoseFeatures(**{**features, "pose_states": None})}
    batched = {
        name: torch.cat([value, value]) if name != "timestep" else value.repeat(2)
        for name, value in inputs.items()
        if name != "pose_features"
    }
    batched["pose_features"] = AnimateXPoseFeatures.cat([features, uncond["pose_features"]])
    reset_peak(device)
    with torch.no_grad(), model.cache_context("cond"):
        two = time_steps(model, inputs, device, repeats) + time_steps(model, uncond, device, repeats)
    two_peak = peak_bytes(device)
    reset_peak(device)
    with torch.no_grad(), model.cache_context("cond+uncond"):
        one = time_steps(model, batched, device, repeats)
    return {
        "two_forwards_s": two,
        "batched_s": one,
        "speedup": two / one,
        "two_forwards_peak_bytes": two_peak,
        "batched_peak_bytes": peak_bytes(device),
    }


def compiled_step(model, inputs: dict, device, repeats: int, step_s: float, left) -> dict:
    """One branch through compiled blocks: the first call compiles (timed apart), then s/step against eager."""
    if left() < 3 * step_s * (repeats + 1) + 120:
        return {"skipped": "out of budget"}
    eager = time_steps(model, inputs, device, repeats)
    try:
        compile_transformer(model, device)
    except SpeedOptionError as error:
        return {"refused": str(error)}
    sync(device)
    start = time.perf_counter()
    with torch.no_grad():
        model(**inputs, return_dict=False)
    sync(device)
    first = time.perf_counter() - start
    compiled = time_steps(model, inputs, device, repeats)
    return {"eager_s": eager, "first_call_s": first, "compiled_s": compiled, "speedup": eager / compiled}


def attention_backends(model, inputs: dict, device, repeats: int, step_s: float, left) -> dict:
    """s/step of one branch on each backend this machine can run (diffusers' `set_attention_backend`)."""
    times: dict = {}
    for name in ATTENTION_BACKENDS:
        try:
            check_attention_backend(name, device)
        except SpeedOptionError as error:
            times[name] = {"refused": str(error)}
            continue
        if left() < step_s * (repeats + 1) * 1.5 + 15:
            times[name] = {"skipped": "out of budget"}
            continue
        try:
            model.set_attention_backend(name)
            times[name] = {"s_per_step": time_steps(model, inputs, device, repeats)}
        except (RuntimeError, ValueError) as error:
            times[name] = {"failed": str(error).splitlines()[0]}
    model.set_attention_backend("native")
    return times


if __name__ == "__main__":
    main()
