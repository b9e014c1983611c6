"""The trainers' command-line arguments, shared by `animatex train`, `python -m animatex.training.train` and
`python -m animatex.training.vae`.

Kept apart from the trainers so `animatex --help` does not import torch.
"""

from __future__ import annotations

import argparse

from animatex.cli.arguments import positive_int


def add_config_arguments(parser: argparse.ArgumentParser, example: str) -> None:
    """--config, --set and --overwrite: what every trainer reads its settings and run folder rules from."""
    parser.add_argument("--config", required=True, help=f"a YAML training config, e.g. {example}")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key (a YAML value)"
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="write into an --output folder that holds files animatex did not make",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser, "configs/tiny.yaml")
    parser.add_argument("--output", help="run folder (default: runs/<config name>)")
    parser.add_argument("--max-steps", type=positive_int, help="override train.max_steps")
    parser.add_argument(
        "--resume", action="store_true", help="continue from the latest checkpoint in --output"
    )
