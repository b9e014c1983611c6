"""The shared argument types: the seed range is exactly what torch.Generator takes, non-finite numbers are refused."""

import argparse

import pytest
import torch

from animatex.cli.arguments import MAX_SEED, finite_float, positive_float, positive_int, seed


def test_seed_range_is_what_torch_accepts():
    assert seed(str(MAX_SEED)) == MAX_SEED
    torch.Generator().manual_seed(MAX_SEED)
    with pytest.raises(ValueError, match="Overflow"):
        torch.Generator().manual_seed(MAX_SEED + 1)
    for text in (str(MAX_SEED + 1), "-1", str(2**70)):
        with pytest.raises(argparse.ArgumentTypeError, match="from 0 to 2\\*\\*64 - 1"):
            seed(text)


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "NaN", "1e999"])
def test_non_finite_numbers_are_refused(text):
    with pytest.raises(argparse.ArgumentTypeError, match="finite"):
        finite_float(text)
    with pytest.raises(argparse.ArgumentTypeError, match="finite"):
        positive_float(text)


def test_counts_and_numbers():
    assert finite_float("-2.5") == -2.5 and positive_float("0.5") == 0.5 and positive_int("3") == 3
    for check, text in ((positive_float, "0"), (positive_int, "0"), (positive_int, "-4")):
        with pytest.raises(argparse.ArgumentTypeError, match="positive"):
            check(text)
    with pytest.raises(argparse.ArgumentTypeError, match="expected an integer, got '1.5'"):
        positive_int("1.5")
