"""`animatex synth`: generate A2Bench-Synth clips (procedural characters, motions, moving backgrounds)."""

from __future__ import annotations

import argparse
import sys
import time

from animatex.cli.arguments import positive_float, positive_int, seed


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "synth",
        help="generate A2Bench-Synth clips with exact ground truth",
        description="Generate synthetic clips (reference image, driving video and keypoints, ground-truth "
        "video, masks, caption) in the dataset format of docs/data.md.",
    )
    parser.add_argument("--out", required=True, help="dataset root folder (gets index.jsonl and clips/)")
    parser.add_argument("--split", required=True, choices=("human", "anthro"), help="reference characters")
    parser.add_argument("--subset", default="train", choices=("train", "test"),
                        help="test also uses the held-out templates and motion families (default: train)")  # fmt: skip
    parser.add_argument("--num", type=positive_int, required=True, help="number of clips")
    parser.add_argument("--seed", type=seed, default=0, help="base seed; clips are reproducible from it")
    parser.add_argument(
        "--size", type=positive_int, default=128, help="frame width = height, a multiple of 16"
    )
    parser.add_argument(
        "--frames", type=positive_int, default=33, help="frames per clip (4k+1 suits the Wan VAE)"
    )
    parser.add_argument("--fps", type=positive_float, default=16.0, help="frame rate")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--overwrite", action="store_true", help="replace the clips of an existing dataset")
    mode.add_argument("--append", action="store_true", help="add clips to an existing dataset")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from animatex.data.generate import generate

    start = time.perf_counter()

    def progress(done: int, total: int) -> None:
        print(f"\r{done}/{total} clips", end="", file=sys.stderr, flush=True)

    folders = generate(
        args.out, args.split, args.num, args.seed, args.subset, args.size, args.frames, args.fps,
        overwrite=args.overwrite, append=args.append, progress=progress,
    )  # fmt: skip
    elapsed = time.perf_counter() - start
    print(file=sys.stderr)
    print(f"wrote {len(folders)} {args.split}/{args.subset} clips to {args.out} in {elapsed:.1f} s")
    return 0
