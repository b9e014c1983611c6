"""Argument types shared by every subcommand: numbers are checked where they enter, with one-line errors.

argparse turns an `ArgumentTypeError` into `animatex CMD: error: argument --x: MESSAGE` (see `Parser`).
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import NoReturn

# torch.Generator.manual_seed takes 0 .. 2**64 - 1 (negative values wrap around, larger ones overflow).
MAX_SEED = 2**64 - 1


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line naming the command, with where to find the usage."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def _number(text: str, kind: type) -> float | int:
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected {'an integer' if kind is int else 'a number'}, got {text!r}"
        ) from None


def finite_float(text: str) -> float:
    """A float that is neither NaN nor infinite."""
    value = _number(text, float)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def positive_float(text: str) -> float:
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def positive_int(text: str) -> int:
    value = _number(text, int)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def seed(text: str) -> int:
    """A noise seed torch accepts: 0 .. 2**64 - 1."""
    value = _number(text, int)
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be an integer from 0 to 2**64 - 1, got {text!r}")
    return value
