"""The `animatex` command line: thin subcommands over the library.

Each subcommand lives in its own module under `animatex.cli` and exposes `register(subparsers)`, which
adds its parser and sets `func`. Library imports happen inside the handlers so `animatex --help` is fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from animatex import __version__

# Subcommand modules, in the order `animatex --help` lists them.
COMMANDS: tuple[str, ...] = (
    "pose", "synth", "data", "convert", "bench", "compare", "animate", "demo", "train", "cache", "plan",
)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="animatex",
        description="Universal character image animation (Animate-X++) on diffusers.",
    )
    parser.add_argument("--version", action="version", version=f"animatex {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"animatex.cli.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Offline by default: a failed hub lookup otherwise spends ~48 s in retries before raising.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError) as error:
        print(f"animatex {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"animatex {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
