"""`animatex quantize`: a pipeline folder's transformer -> a GGUF file (Q8_0 or Q4_0) for `animatex animate --gguf`."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "quantize",
        help="write a pipeline folder's transformer as a GGUF file (Q8_0 or Q4_0)",
        description="Write the transformer of a pipeline folder (e.g. `animatex convert` output, LoRA merged) "
        "to one GGUF file in Wan's original key layout, the format of the community's Wan2.1 GGUF files: "
        "the blocks' linear weights quantised, pose modules, norms, biases, embedders and the output layer kept in "
        "float32. Run it with "
        "`animatex animate --model DIR --gguf FILE`. Streams one tensor at a time (see docs/weights.md).",
    )
    parser.add_argument("--model", type=Path, required=True, help="the AnimateXPipeline folder")
    parser.add_argument("--type", choices=("Q8_0", "Q4_0"), default="Q8_0",
                        help="Q8_0 (34 bytes per 32 weights, near-lossless; default) or Q4_0 (18 bytes)")  # fmt: skip
    parser.add_argument("-o", "--output", type=Path, required=True, help="the .gguf file to write")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from animatex.convert.gguf import write_transformer_gguf

    summary = write_transformer_gguf(args.model, args.output, args.type, overwrite=args.overwrite)
    print(
        f"{summary.path}: {summary.file_bytes / 2**20:.1f} MiB, {summary.quantised} tensors "
        f"({summary.quantised_weights:,} weights) in {summary.qtype}, {summary.kept} kept in float32 "
        f"({summary.kept_weights:,} weights); run it with `animatex animate --model {args.model} --gguf "
        f"{summary.path}`"
    )
    return 0
