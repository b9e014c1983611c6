"""`animatex cache calibrate`: measure MagCache's per-step ratios for a model and store them in its folder."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "cache",
        help="step caches: calibrate MagCache for a model",
        description="Step caches (`animatex animate --cache`). `calibrate` runs the model once uncached on an "
        "A2Bench-Synth test case and writes MagCache's per-step ratios to MODEL/mag_cache.json, which "
        "`--cache magcache` reads. See docs/pipeline.md.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    calibrate = actions.add_parser("calibrate", help="store MagCache ratios in the model folder")
    calibrate.add_argument("--model", type=Path, help="AnimateXPipeline folder (default: the demo model)")
    calibrate.add_argument(
        "--steps", type=int, default=50, help="denoising steps to calibrate for (default 50)"
    )
    calibrate.add_argument("--size", type=int, default=64, help="square frame size in pixels (default 64)")
    calibrate.add_argument("--frames", type=int, default=17, help="frames, 4k+1 (default 17)")
    calibrate.add_argument("--device", default="cpu", help="torch device (default cpu)")
    calibrate.add_argument("--memory", help="memory modes, as for `animatex animate --memory`")
    calibrate.add_argument("--overwrite", action="store_true", help="replace an existing mag_cache.json")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from animatex.animate import default_model_dir, load_pipeline
    from animatex.errors import AnimatexError
    from animatex.pipelines.speed import calibrate_mag_cache, mag_cache_path, synth_case_inputs

    if args.steps < 2:
        raise AnimatexError(f"--steps must be at least 2, got {args.steps}")
    model_dir = args.model if args.model is not None else default_model_dir()
    if model_dir is not None and mag_cache_path(model_dir).exists() and not args.overwrite:
        raise AnimatexError(f"{mag_cache_path(model_dir)} already exists; pass --overwrite to replace it")

    import torch

    from animatex.data.world import make_case

    pipe = load_pipeline(model_dir, args.device, memory=args.memory)
    pipe.set_progress_bar_config(disable=True)
    case = make_case(0, "human", "test", 0, args.size, args.frames)
    inputs = synth_case_inputs(case) | {"generator": torch.Generator().manual_seed(0)}
    ratios = calibrate_mag_cache(pipe, inputs, args.steps, model_dir)
    print(f"{mag_cache_path(model_dir)}: {len(ratios)} MagCache ratios for {args.steps} steps")
    return 0
