"""`animatex plan`: predicted peak device memory and FLOPs per step of a model for each memory mode."""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_MODES = (
    "none", "text-encoder-cpu", "vae-tiling", "fp8", "fp8+vae-tiling", "model-offload", "group-offload",
    "fp8+group-offload+vae-tiling", "sequential-offload", "gguf-q8_0", "gguf-q4_0", "gguf-q4_0+group-offload",
)  # fmt: skip


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "plan",
        help="predict peak memory and FLOPs per step for each memory mode",
        description="Predict, from the model's configs alone (no weights are read), the peak device memory of "
        "one `animatex animate` call and the transformer FLOPs per denoising step, for each --memory mode. "
        "Estimates: docs/benchmarks.md compares them with measured peaks.",
    )
    parser.add_argument("--model", type=Path, help="AnimateXPipeline folder (default: the demo model)")
    parser.add_argument("--size", default="832x480", help="WIDTHxHEIGHT (default 832x480)")
    parser.add_argument("--frames", type=int, default=81, help="frames, 4k+1 (default 81)")
    parser.add_argument("--memory", help="one memory mode to plan, with gguf-q8_0 or gguf-q4_0 for a --gguf "
                        "transformer of that type (default: the common ones)")  # fmt: skip
    parser.add_argument("--dtype", choices=("bf16", "fp16", "fp32"),
                        help="compute dtype (default: fp32 on the CPU, which is what it runs, else bf16)")  # fmt: skip
    parser.add_argument("--guidance-branches", type=int, default=1,
                        help="guidance branches per step: 1 without CFG, 2 with, 3 with text guidance (planned as one "
                        "batched forward, the pipeline's default)")  # fmt: skip
    parser.add_argument("--device", default=None,
                        help="device to plan for: cpu or cuda (default: cuda when there is one, else cpu)")  # fmt: skip
    parser.add_argument(
        "--gpu", help="plan for this GPU by name (e.g. H100, A100, 'RTX 4090') instead of this one"
    )
    parser.add_argument("--tflops", type=float,
                        help="effective TFLOP/s for the time estimate (for a GPU without a known peak)")  # fmt: skip
    parser.add_argument(
        "--steps", type=int, default=None, help="denoising steps for the time (default: the model's)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from animatex.animate import default_model_dir, parse_size
    from animatex.errors import AnimatexError
    from animatex.pipelines.plan import (
        Workload,
        model_sizes,
        parse_plan_mode,
        plan_modes,
        transformer_flops,
        transformer_tokens,
    )

    model_dir = args.model if args.model is not None else default_model_dir()
    if model_dir is None or not (Path(model_dir) / "transformer" / "config.json").is_file():
        raise AnimatexError(f"{model_dir}: not an AnimateXPipeline folder (no transformer/config.json)")
    width, height = parse_size(args.size)
    if args.frames < 1 or (args.frames - 1) % 4:
        raise AnimatexError(f"--frames must be 4k+1 (17, 33, 81, ...), got {args.frames}")
    if args.tflops is not None and args.tflops <= 0:
        raise AnimatexError(f"--tflops must be positive, got {args.tflops}")
    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() or args.gpu else "cpu")
    try:
        device_type = torch.device(device).type
    except RuntimeError as error:
        raise AnimatexError(f"--device {device!r} is not a torch device ({error}); use cpu or cuda") from None
    if args.memory:
        parse_plan_mode(args.memory)
    args.dtype = args.dtype or ("fp32" if device_type == "cpu" else "bf16")
    work = Workload(width, height, args.frames, guidance_branches=args.guidance_branches)
    sizes = model_sizes(model_dir)
    modes = [args.memory] if args.memory else list(DEFAULT_MODES)
    config = sizes.transformer_config
    params = ", ".join(f"{name} {count / 1e6:,.1f}M" for name, count in sizes.params.items())
    print(f"{model_dir}: {params} parameters")
    print(
        f"{width}x{height}, {args.frames} frames: {transformer_tokens(config, work):,} tokens; "
        f"{transformer_flops(config, work) / 1e12:,.2f} TFLOPs per step ({args.guidance_branches} branch(es)), "
        f"{args.dtype} on {device_type}"
    )
    print(f"{'memory mode':32s} {'peak GiB':>9s} {'weights':>9s} {'activations':>12s}")
    gib = 1024**3
    plans = plan_modes(sizes, work, modes, args.dtype, device_type)
    for plan in plans:
        print(
            f"{plan.mode:32s} {plan.peak_bytes / gib:9.2f} {plan.weights_bytes / gib:9.2f} "
            f"{plan.activation_bytes / gib:12.2f}"
        )
    runtime = plans[0].runtime_bytes
    if runtime is not None:
        print(
            f"peak includes the {device_type} runtime overhead: {runtime / gib:.2f} GiB (measured constant)"
        )
    else:
        print(f"peak excludes the {device_type} runtime overhead (context, library workspaces): not measured")
    print(time_line(sizes, work, device, args, Path(model_dir)))
    return 0


def time_line(sizes, work, device: str, args: argparse.Namespace, model_dir: Path) -> str:
    """The estimated time of one call, or what to pass to get one."""
    import json

    from animatex.pipelines.plan import call_seconds, device_throughput, transformer_flops

    throughput = device_throughput(device, args.gpu, args.tflops)
    if throughput is None:
        return f"time: no known bf16 peak for {args.gpu or device}; pass --tflops N (its effective TFLOP/s)"
    steps = args.steps
    if steps is None:
        index = json.loads((model_dir / "model_index.json").read_text())
        steps = index.get("default_num_inference_steps", 50)
    step = transformer_flops(sizes.transformer_config, work) / (throughput.tflops * 1e12)
    call = call_seconds(sizes.transformer_config, sizes.vae_config, work, steps, throughput)
    return (
        f"time (estimate, {throughput.tflops:,.3g} TFLOP/s: {throughput.source}): {step:,.2f} s per step, "
        f"{call:,.1f} s per call of {steps} steps with the VAE and pose guider"
    )
