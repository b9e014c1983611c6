"""`animatex bench`: generate every case of a dataset with a model or a baseline, score it, write a report."""

from __future__ import annotations

import argparse
from pathlib import Path

from animatex.cli.arguments import finite_float, positive_int, seed


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="benchmark a model or a baseline on a dataset",
        description="Generate every clip of a dataset (docs/data.md) and write results.json, results.md, "
        "chart.png and per-case grids (reference | ground truth | result). Metrics: docs/metrics.md.",
    )
    parser.add_argument("--dataset", type=Path, required=True, help="dataset root (holds index.jsonl)")
    method = parser.add_mutually_exclusive_group(required=True)
    method.add_argument("--model", type=Path, help="AnimateXPipeline folder (save_pretrained output)")
    method.add_argument("--baseline", choices=("copy-reference", "rigid-warp"), help="a baseline instead")
    parser.add_argument("--align", choices=("none", "global", "bones"), default="none",
                        help="retarget the driving pose to the reference before generating (default: none)")  # fmt: skip
    parser.add_argument("--limit", type=positive_int, help="only the first N cases")
    parser.add_argument("--split", help="only clips of this split (e.g. anthro)")
    parser.add_argument("--subset", help="only clips of this subset (e.g. test)")
    parser.add_argument("--out", type=Path, required=True, help="report folder")
    parser.add_argument(
        "--background-prompts",
        action="store_true",
        help="with --model: instead of the caption, generate each case with static, snow/rain/flames and "
        "drifting left/right prompts, and a case whose caption names a side with its caption told left and "
        "right; check the background follows them (prompts.json/.md)",
    )
    parser.add_argument(
        "--vae-ceiling",
        action="store_true",
        help="with --model: score its VAE's reconstruction of each ground truth instead of generating (the "
        "best any model in that latent space can expect)",
    )
    weights = parser.add_argument_group("feature-network weights (metrics are skipped without them)")
    weights.add_argument("--lpips-weights", type=Path, help="torchvision alexnet (or vgg16) state dict")
    weights.add_argument("--lpips-heads", type=Path, help="LPIPS v0.1 linear heads (alex.pth / vgg.pth)")
    weights.add_argument("--lpips-net", choices=("alex", "vgg"), default="alex", help="LPIPS backbone")
    weights.add_argument(
        "--inception-weights", type=Path, help="pytorch-fid pt_inception-2015-12-05-6726825d.pth"
    )
    weights.add_argument(
        "--i3d-weights", type=Path, help="pytorch-i3d rgb_imagenet.pt / i3d_pretrained_400.pt"
    )
    model = parser.add_argument_group("generation with --model")
    model.add_argument(
        "--steps", type=positive_int, help="denoising steps (default: the model's own, see docs/cli.md)"
    )
    model.add_argument("--guidance", type=finite_float, help="CFG scale (default: the model's own)")
    model.add_argument(
        "--text-guidance", type=finite_float, help="guidance on the prompt alone (default: the model's own)"
    )
    model.add_argument("--seed", type=seed, default=0, help="noise seed, the same for every case")
    model.add_argument("--device", default="cpu", help="torch device, e.g. cuda (default cpu)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from animatex.data.dataset import ClipDataset
    from animatex.errors import AnimatexError
    from animatex.evaluation.bench import (
        baseline,
        pipeline_generator,
        run_bench,
        vae_reconstruction_generator,
    )
    from animatex.evaluation.perceptual import FeatureNetworks

    dataset = ClipDataset(args.dataset, split=args.split, subset=args.subset)
    if args.background_prompts:
        return _run_background_prompts(args, dataset)
    networks = FeatureNetworks.from_files(
        args.lpips_weights,
        args.lpips_heads,
        args.inception_weights,
        args.i3d_weights,
        args.lpips_net,
        args.device,
    )
    if args.vae_ceiling:
        if args.model is None:
            raise AnimatexError("--vae-ceiling needs --model (the pipeline folder whose VAE to score)")
        generate = vae_reconstruction_generator(args.model, args.device)
        method = f"VAE reconstruction, {args.model.name}"
    elif args.model is not None:
        generate = pipeline_generator(
            args.model, args.steps, args.guidance, args.seed, args.device, args.text_guidance
        )
        method = f"model {args.model.name}"
    else:
        generate, method = baseline(args.baseline), args.baseline
    results = run_bench(
        dataset, generate, args.out, method=method, align_mode=args.align, limit=args.limit,
        networks=networks, progress=not args.no_progress,
    )  # fmt: skip
    mean = results.mean()
    summary = ", ".join(f"{k} {v:.4g}" for k, v in mean.items() if v is not None)
    failed = sum(c["status"] != "ok" for c in results.cases)
    print(f"{method}: {len(results.cases) - failed}/{len(results.cases)} cases; {summary}")
    print(f"report: {args.out / 'results.md'}")
    return 1 if failed == len(results.cases) else 0


def _run_background_prompts(args: argparse.Namespace, dataset) -> int:
    from animatex.animate import load_pipeline
    from animatex.errors import AnimatexError
    from animatex.evaluation.background import run_prompt_checks
    from animatex.evaluation.bench import prompted_pipeline_generator, vae_reconstruction_generator

    if args.model is None:
        raise AnimatexError("--background-prompts needs --model (a baseline does not read prompts)")
    pipe = load_pipeline(args.model, args.device)  # one pipeline for the prompts and the VAE round trips
    generate = prompted_pipeline_generator(
        pipe, args.steps, args.guidance, args.seed, args.device, args.text_guidance
    )
    summary = run_prompt_checks(
        dataset, generate, args.out, align_mode=args.align, limit=args.limit, progress=not args.no_progress,
        reconstruct=vae_reconstruction_generator(pipe, args.device),
    )  # fmt: skip
    print(
        f"background motion static {summary['bg_motion_static']:.4f} vs dynamic "
        f"{summary['bg_motion_dynamic']:.4f} (ratio {summary['motion_ratio'] or float('inf'):.2f}); "
        f"direction right in {summary['direction_accuracy']:.0%} of generations"
    )
    if summary["scene_cases"]:
        print(
            f"scene direction (each case's own caption told left and right, {summary['scene_cases']} cases): "
            f"right in {summary['scene_direction_accuracy']:.0%} of generations (VAE ceiling "
            f"{summary['scene_vae_accuracy']:.0%})"
        )
    print(f"report: {args.out / 'prompts.md'}")
    return 0
