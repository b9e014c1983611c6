"""One full-size denoising step: AnimateXTransformer3DModel (Wan2.1-I2V-14B + pose modules) vs diffusers' Wan.

Random weights in bf16 (no download), 480p (832x480), 81 frames -> 21 x 60 x 104 latents, 32,760 tokens.
Measures seconds per transformer step (one conditional forward, the unit of both pipelines' denoising loop)
and peak GPU memory, for our model with every pose condition and for diffusers' `WanTransformer3DModel` as
`WanImageToVideoPipeline` calls it. The two models are built one after the other, so each fits alone.

Needs a CUDA GPU with ~40 GB free. Usage:
    python benchmarks/bench_full_size.py [--frames 81 --height 480 --width 832 --steps 3 --skip-diffusers]
Prints one table and writes it as JSON with --json.
"""

from __future__ import annotations

import argparse
import gc
import json
import time

import torch


def build_on_gpu(cls: type, config: dict, device: torch.device, seed: int = 0) -> torch.nn.Module:
    """Parameters go straight to the GPU as random bf16 (no 56 GB fp32 CPU copy); buffers (RoPE tables) stay real."""
    from accelerate import init_empty_weights

    with init_empty_weights():  # parameters on meta, buffers computed normally
        model = cls(**config)
    generator = torch.Generator(device=device).manual_seed(seed)
    for module in model.modules():
        for name, param in list(module._parameters.items()):
            if param is not None:
                value = torch.empty(param.shape, device=device, dtype=torch.bfloat16).normal_(
                    0.0, 0.02, generator=generator
                )
                module._parameters[name] = torch.nn.Parameter(value, requires_grad=False)
    return model.to(device).eval()


def inputs(args: argparse.Namespace, device: torch.device, with_pose: bool) -> dict[str, torch.Tensor]:
    latent_frames = (args.frames - 1) // 4 + 1
    h, w = args.height // 8, args.width // 8
    bf16 = {"device": device, "dtype": torch.bfloat16}
    batch = {
        "hidden_states": torch.randn(1, 36, latent_frames, h, w, **bf16),
        "timestep": torch.tensor([999.0], device=device),
        "encoder_hidden_states": torch.randn(1, 512, 4096, **bf16),
        "encoder_hidden_states_image": torch.randn(1, 257, 1280, **bf16),
    }
    if with_pose:
        batch.update(
            pose_video=torch.rand(1, 3, args.frames, args.height, args.width, **bf16),
            ref_pose=torch.rand(1, 3, args.height, args.width, **bf16),
            pose_keypoints=torch.rand(1, args.frames, 18, 2, **bf16),
            motion_embeds=torch.randn(1, args.frames, 1024, **bf16),
        )
    return batch


def time_steps(model: torch.nn.Module, batch: dict, steps: int) -> tuple[float, float]:
    """(seconds per step, peak GiB) over `steps` forwards after one warm-up."""
    with torch.no_grad():
        model(**batch)  # warm-up: kernels, allocator
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        for _ in range(steps):
            model(**batch)
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps, torch.cuda.max_memory_allocated() / 1024**3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=81)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=832)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--skip-diffusers", action="store_true")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("bench_full_size.py needs a CUDA GPU (the 14B model in bf16 is ~33 GB)")
    if (args.frames - 1) % 4 or args.height % 16 or args.width % 16:
        raise SystemExit("frames must be 4k+1 and height/width multiples of 16")
    device = torch.device("cuda")

    from diffusers import WanTransformer3DModel

    from animatex.models import ANIMATEX_PRESETS, AnimateXTransformer3DModel

    config = ANIMATEX_PRESETS["wan2.1-i2v-14b"]
    results = []
    runs = [("animatex (all pose conditions)", AnimateXTransformer3DModel, config, True)]
    if not args.skip_diffusers:
        wan_config = {
            k: v for k, v in config.items() if k in WanTransformer3DModel.__init__.__code__.co_varnames
        }
        runs.append(("diffusers WanTransformer3DModel (I2V)", WanTransformer3DModel, wan_config, False))
    for name, cls, cfg, with_pose in runs:
        model = build_on_gpu(cls, cfg, device)
        params = sum(p.numel() for p in model.parameters())
        seconds, peak = time_steps(model, inputs(args, device, with_pose), args.steps)
        results.append(
            {
                "model": name,
                "params_B": round(params / 1e9, 3),
                "s_per_step": round(seconds, 3),
                "peak_GiB": round(peak, 2),
            }
        )
        del model
        gc.collect()
        torch.cuda.empty_cache()

    print(
        f"{torch.cuda.get_device_name()}, {args.frames} frames at {args.width}x{args.height}, bf16, one conditional step"
    )
    for row in results:
        print(
            f"  {row['model']:<40} {row['params_B']:>7} B params  {row['s_per_step']:>8} s/step  {row['peak_GiB']:>7} GiB peak"
        )
    if len(results) == 2:
        print(
            f"  ratio animatex / diffusers: {results[0]['s_per_step'] / results[1]['s_per_step']:.3f} x time"
        )
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(
                {"device": torch.cuda.get_device_name(), "args": vars(args), "results": results},
                handle,
                indent=2,
            )


if __name__ == "__main__":
    main()
