"""`animatex train`: train or fine-tune a pipeline from a YAML config (docs/training.md)."""

from __future__ import annotations

import argparse

from animatex.training.arguments import add_arguments


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a pipeline from a YAML config (multi-task, EPI, partial parameters, exact resume)",
        description="Train an AnimateXPipeline from configs/NAME.yaml: checkpoints, log.csv and a "
        "save_pretrained pipeline folder under --output. For several processes run the same arguments "
        "under `accelerate launch -m animatex.training.train`.",
    )
    add_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from animatex.training.train import run as run_training

    run_training(args)
    return 0
