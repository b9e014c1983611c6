"""The `animatex` command line: thin subcommands over the library.

Each subcommand lives in its own module under `animatex.cli` and exposes `register(subparsers)`, which
adds its parser and sets `func`. Library imports happen inside the handlers so `animatex --help` is fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from animatex import __version__

# Subcommand modules, in the order `animatex --help` lists them.
COMMANDS: tuple[str, ...] = (
    "pose", "synth", "data", "convert", "quantize", "bench", "compare", "animate", "demo", "train", "cache", "plan", "ui",
)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    from animatex.cli.arguments import Parser

    parser = Parser(
        prog="animatex",
        description="Universal character image animation (Animate-X++) on diffusers.",
    )
    parser.add_argument("--version", action="version", version=f"animatex {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"animatex.cli.{name}").register(subparsers)
    return parser


class _NoteHandler(logging.Handler):
    """Writes records to whatever `sys.stderr` is when they come (a test harness may swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        print(self.format(record), file=sys.stderr)


def _show_library_notes() -> None:
    """The library's warnings (rounded sizes, frame counts, fallbacks) as one-line notes on stderr."""
    logger = logging.getLogger("animatex")
    if not any(isinstance(handler, _NoteHandler) for handler in logger.handlers):
        handler = _NoteHandler(logging.WARNING)
        handler.setFormatter(logging.Formatter("animatex: note: %(message)s"))
        logger.addHandler(handler)


def one_line(error: BaseException) -> str:
    """An exception as one line: its message with line breaks folded, or what an OSError says about which file."""
    if isinstance(error, OSError) and error.strerror:
        text = error.strerror + (f": {error.filename}" if error.filename else "")
    else:
        text = str(error) or type(error).__name__
    return " ".join(text.split())


def main(argv: list[str] | None = None) -> int:
    # Offline by default: a failed hub lookup otherwise spends ~48 s in retries before raising.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    _show_library_notes()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit:  # --help, --version, or a bad argument (already reported in one line)
        return int(exit.code or 0)
    if args.command is None:
        parser.print_help()
        return 0
    name = " ".join(filter(None, (args.command, getattr(args, f"{args.command}_command", None))))
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError) as error:
        # Bad input (exit 2), or an output that could not be written (OutputError, exit 1).
        print(f"animatex {name}: error: {one_line(error)}", file=sys.stderr)
        return getattr(error, "exit_code", 2)
    except OSError as error:  # a disk or device fault outside animatex's own writers
        print(f"animatex {name}: error: {one_line(error)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"animatex {name}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
