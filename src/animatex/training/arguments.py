"""The trainer's command-line arguments, shared by `animatex train` and `python -m animatex.training.train`.

Kept apart from the trainer so `animatex --help` does not import torch.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="a YAML training config, e.g. configs/tiny.yaml")
    parser.add_argument("--output", help="run folder (default: runs/<config name>)")
    parser.add_argument("--max-steps", type=int, help="override train.max_steps")
    parser.add_argument(
        "--resume", action="store_true", help="continue from the latest checkpoint in --output"
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="write into an --output folder that holds files animatex did not make",
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key (a YAML value)"
    )
