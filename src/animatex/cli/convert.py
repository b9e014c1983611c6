"""`animatex convert`: Wan2.1 weights (+ official Animate-X++ files) -> an AnimateXPipeline folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from animatex.cli.arguments import positive_float


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "convert",
        help="build a pipeline folder from Wan2.1 and official Animate-X++ weights",
        description="Convert Wan2.1-I2V-14B (diffusers or original layout), optionally with an official "
        "Animate-X++ checkpoint and the IPI's OpenCLIP encoder, into a folder that AnimateXPipeline."
        "from_pretrained and `animatex animate --model` read. Tensors are streamed (see docs/weights.md).",
    )
    parser.add_argument("--wan-dir", type=Path, help="Wan2.1-I2V-14B folder (diffusers or original layout)")
    parser.add_argument("--official-ckpt", type=Path, help="animate-x++.ckpt or animate-x++_simple.ckpt")
    parser.add_argument("--openclip", type=Path, help="OpenCLIP ViT-H-14 open_clip_pytorch_model.bin (IPI)")
    parser.add_argument(
        "--out", type=Path, help="folder to write (new, empty, or a pipeline with --overwrite)"
    )
    parser.add_argument(
        "--lora", choices=("merge", "adapter"), default="merge",
        help="merge the LoRA into the DiT as the release does (default), or keep it as animatex_lora.safetensors",
    )  # fmt: skip
    parser.add_argument(
        "--dtype", choices=("bf16", "fp16", "fp32"), default="bf16", help="DiT/text/CLIP weights"
    )
    parser.add_argument(
        "--max-shard-gb", type=positive_float, default=5.0, help="size cap of each output shard"
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing pipeline folder at --out (never other files)",
    )
    parser.add_argument(
        "--check-layouts", action="store_true",
        help="only verify every converter against the full-size published layouts (no files needed)",
    )  # fmt: skip
    parser.set_defaults(func=run_convert)


def run_convert(args: argparse.Namespace) -> int:
    import torch

    from animatex.errors import AnimatexError

    if args.check_layouts:
        from animatex.convert.manifests import verify_layouts

        failed = 0
        for check in verify_layouts():
            status = "ok" if check.report.ok else f"MISMATCH: {check.report}"
            failed += not check.report.ok
            print(f"{check.name}: {check.num_source} source tensors -> {check.num_target} targets: {status}")
        return 1 if failed else 0
    if args.wan_dir is None or args.out is None:
        raise AnimatexError("--wan-dir and --out are required (or pass --check-layouts)")

    from animatex.convert.pipeline_folder import ConvertOptions, convert_to_pipeline

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[args.dtype]
    options = ConvertOptions(
        dtype=dtype, lora_mode=args.lora, max_shard_bytes=int(args.max_shard_gb * 1024**3)
    )
    out = convert_to_pipeline(
        args.wan_dir, args.out, args.official_ckpt, args.openclip, options, overwrite=args.overwrite
    )
    print(
        f"wrote {out}; load it with AnimateXPipeline.from_pretrained({str(out)!r}) or `animatex animate --model {out}`"
    )
    return 0
