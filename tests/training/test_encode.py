"""The trainer's encode cache: a batch's misses computed together, each key once."""

import torch

from animatex.training.encode import EncodeCache


def test_fill_computes_each_missing_key_once_and_get_finds_it():
    cache = EncodeCache(8)
    cache.get(("a",), lambda: torch.zeros(1, 2))
    asked: list[list[int]] = []

    def compute(indices: list[int]) -> torch.Tensor:
        asked.append(indices)
        return torch.stack([torch.full((2,), float(i)) for i in indices])

    cache.fill([("a",), ("b",), ("c",), ("b",)], compute)
    assert asked == [[1, 2]]  # "a" was cached, the second "b" is the first one
    assert torch.equal(cache.get(("b",), lambda: torch.ones(1, 2)), torch.full((1, 2), 1.0))
    assert torch.equal(cache.get(("c",), lambda: torch.ones(1, 2)), torch.full((1, 2), 2.0))
    cache.fill([("a",), ("b",)], compute)
    assert asked == [[1, 2]]  # nothing missing: no call


def test_fill_does_nothing_without_a_cache():
    cache = EncodeCache(0)
    cache.fill([("a",)], lambda indices: (_ for _ in ()).throw(AssertionError("computed")))
    assert cache.entries == {}
