"""`animatex compare`: paired per-case differences between `animatex bench` reports (ablations, seeds)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="compare bench reports case by case against a base run",
        description="Read the results.json of a base bench report and of each run (same dataset, same seed) "
        "and print, per metric, both means, the mean paired difference run - base with its standard error, "
        "and how many cases the run wins.",
    )
    parser.add_argument("base", type=Path, help="the base report folder (animatex bench --out)")
    parser.add_argument("runs", type=Path, nargs="+", help="report folders to compare against it")
    parser.add_argument(
        "--metrics", nargs="+", help="metrics (default fg_psnr fg_ssim silhouette_iou psnr_star)"
    )
    parser.add_argument("--out", type=Path, help="also write the table to this markdown file")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from animatex.evaluation.compare import DEFAULT_METRICS, compare_runs, comparison_table
    from animatex.io import write_text
    from animatex.io.atomic import check_writable

    if args.out is not None and args.out.exists() and not args.overwrite:
        raise FileExistsError(f"{args.out} exists; pass --overwrite to replace it")
    if args.out is not None:
        check_writable(args.out)
    rows = compare_runs(args.base, args.runs, tuple(args.metrics or DEFAULT_METRICS))
    table = comparison_table(rows, args.base.name)
    print(table, end="")
    if args.out is not None:
        write_text(args.out, table)
        print(f"wrote {args.out}")
    return 0
