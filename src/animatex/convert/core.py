"""Conversion plans, lazy tensor sources and a streaming sharded writer.

A converter is a `ConversionPlan`: one `TensorRule` per target tensor (which source tensors it reads and the
function that turns them into the target), plus the source keys it deliberately drops with the reason.
The same plan is checked on meta tensors against full-size manifests (`check_plan`) and executed on real
files (`iter_converted`), so what is verified is exactly what runs.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from animatex.errors import AnimatexError
from animatex.io.tensors import load_torch_file

Transform = Callable[..., torch.Tensor]


def _identity(tensor: torch.Tensor) -> torch.Tensor:
    return tensor


@dataclass(frozen=True)
class TensorRule:
    """target <- transform(*sources)."""

    target: str
    sources: tuple[str, ...]
    transform: Transform = _identity


@dataclass
class ConversionPlan:
    rules: list[TensorRule] = field(default_factory=list)
    dropped: dict[str, str] = field(default_factory=dict)  # source key -> why it is not converted

    def add(self, target: str, *sources: str, transform: Transform = _identity) -> None:
        self.rules.append(TensorRule(target, tuple(sources), transform))

    def extend(self, other: ConversionPlan) -> ConversionPlan:
        self.rules.extend(other.rules)
        self.dropped.update(other.dropped)
        return self

    @property
    def targets(self) -> list[str]:
        return [rule.target for rule in self.rules]


@dataclass
class PlanReport:
    """Everything that is wrong with a plan against a source and a target manifest."""

    unconsumed: list[str]
    missing_sources: list[str]
    missing_targets: list[str]
    unexpected_targets: list[str]
    duplicate_targets: list[str]
    shape_mismatches: list[str]

    @property
    def ok(self) -> bool:
        return not any(vars(self).values())

    def __str__(self) -> str:
        lines = []
        for name, items in vars(self).items():
            if items:
                shown = ", ".join(items[:8]) + (f" ... ({len(items)} in all)" if len(items) > 8 else "")
                lines.append(f"{name.replace('_', ' ')}: {shown}")
        return "; ".join(lines) or "ok"


def meta_manifest(module: torch.nn.Module) -> dict[str, torch.Size]:
    """Key -> shape of everything a module saves (parameters and persistent buffers)."""
    return {key: tensor.shape for key, tensor in module.state_dict(keep_vars=True).items()}


def check_plan(
    plan: ConversionPlan, source: Mapping[str, torch.Size], target: Mapping[str, torch.Size]
) -> PlanReport:
    """Run every rule on meta tensors: all source keys consumed or dropped, every target filled once, right shape."""
    used: set[str] = set(plan.dropped)
    missing_sources, mismatches, seen, duplicates = [], [], set(), []
    for rule in plan.rules:
        if rule.target in seen:
            duplicates.append(rule.target)
        seen.add(rule.target)
        absent = [key for key in rule.sources if key not in source]
        if absent:
            missing_sources.extend(absent)
            continue
        used.update(rule.sources)
        inputs = [torch.empty(source[key], device="meta") for key in rule.sources]
        shape = rule.transform(*inputs).shape
        if rule.target in target and shape != target[rule.target]:
            mismatches.append(f"{rule.target} {tuple(shape)} != {tuple(target[rule.target])}")
    return PlanReport(
        unconsumed=sorted(set(source) - used),
        missing_sources=sorted(set(missing_sources)),
        missing_targets=sorted(set(target) - seen),
        unexpected_targets=sorted(seen - set(target)),
        duplicate_targets=sorted(set(duplicates)),
        shape_mismatches=mismatches,
    )


def require_plan(
    plan: ConversionPlan, source: Mapping[str, torch.Size], target: Mapping[str, torch.Size], what: str
) -> None:
    """check_plan, raising AnimatexError with the full report when anything is off."""
    report = check_plan(plan, source, target)
    if not report.ok:
        raise AnimatexError(f"{what}: the files do not match the expected layout ({report})")


# ----------------------------------------------------------------------------------------------------------
# Lazy sources
# ----------------------------------------------------------------------------------------------------------


class TensorSource:
    """Read-only name -> tensor access that loads one tensor at a time."""

    def shapes(self) -> dict[str, torch.Size]:
        raise NotImplementedError

    def get(self, key: str) -> torch.Tensor:
        raise NotImplementedError

    def names(self) -> list[str]:
        return list(self.shapes())


class SafetensorsSource(TensorSource):
    """One or more safetensors files opened with safe_open (memory-mapped, nothing read up front)."""

    def __init__(self, files: Iterable[str | os.PathLike]) -> None:
        self.files = [Path(f) for f in files]
        if not self.files:
            raise AnimatexError("no .safetensors files were given")
        self._where: dict[str, Path] = {}
        self._shapes: dict[str, torch.Size] = {}
        for path in self.files:
            if not path.is_file():
                raise AnimatexError(f"missing weight file {path}")
            with safe_open(str(path), framework="pt") as handle:
                for key in handle.keys():  # noqa: SIM118 - safe_open handles are not iterable
                    if key in self._where:
                        raise AnimatexError(f"tensor {key} appears in both {self._where[key]} and {path}")
                    self._where[key] = path
                    self._shapes[key] = torch.Size(handle.get_slice(key).get_shape())

    def shapes(self) -> dict[str, torch.Size]:
        return dict(self._shapes)

    def get(self, key: str) -> torch.Tensor:
        with safe_open(str(self._where[key]), framework="pt") as handle:
            return handle.get_tensor(key)


class TorchPickleSource(TensorSource):
    """A `torch.save`d flat {name: tensor} file, loaded with weights_only=True and memory-mapped when possible."""

    def __init__(self, path: str | os.PathLike, strip_prefix: str = "") -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise AnimatexError(f"missing weight file {self.path}")
        # Zip-format files are memory-mapped so a 10 GB text encoder costs no RAM until a tensor is read;
        # legacy (non-zip) pickles cannot be mapped and are read whole.
        state = load_torch_file(self.path, mmap=zipfile.is_zipfile(self.path))
        if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
            state = state["state_dict"]
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise AnimatexError(f"{self.path} is not a flat {{name: tensor}} state dict")
        self._state = {
            k[len(strip_prefix) :] if k.startswith(strip_prefix) else k: v for k, v in state.items()
        }

    def shapes(self) -> dict[str, torch.Size]:
        return {key: value.shape for key, value in self._state.items()}

    def get(self, key: str) -> torch.Tensor:
        return self._state[key]


class ManifestSource(TensorSource):
    """Shapes only (for dry runs); `get` is not available."""

    def __init__(self, shapes: Mapping[str, torch.Size]) -> None:
        self._shapes = dict(shapes)

    def shapes(self) -> dict[str, torch.Size]:
        return dict(self._shapes)

    def get(self, key: str) -> torch.Tensor:
        raise AnimatexError(f"{key}: a manifest holds no tensor data")


class StateDictSource(TensorSource):
    """An in-memory state dict (tests, small modules)."""

    def __init__(self, state: Mapping[str, torch.Tensor]) -> None:
        self._state = dict(state)

    def shapes(self) -> dict[str, torch.Size]:
        return {key: value.shape for key, value in self._state.items()}

    def get(self, key: str) -> torch.Tensor:
        return self._state[key]


def iter_converted(
    plan: ConversionPlan, source: TensorSource, dtype: torch.dtype | None = None
) -> Iterator[tuple[str, torch.Tensor]]:
    """Yield (target, tensor) one rule at a time; at most one rule's inputs are resident."""
    for rule in plan.rules:
        tensor = rule.transform(*(source.get(key) for key in rule.sources))
        if dtype is not None and tensor.is_floating_point():
            tensor = tensor.to(dtype)
        yield rule.target, tensor.contiguous()


# ----------------------------------------------------------------------------------------------------------
# Streaming writer
# ----------------------------------------------------------------------------------------------------------


class ShardedSafetensorsWriter:
    """Writes tensors into size-capped safetensors shards plus the index diffusers/transformers read.

    `weights_name` is "diffusion_pytorch_model" for diffusers models and "model" for transformers models.
    Only the current shard is held in memory.
    """

    def __init__(
        self, out_dir: str | os.PathLike, weights_name: str, max_shard_bytes: int = 5 * 1024**3
    ) -> None:
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.weights_name = weights_name
        self.max_shard_bytes = max_shard_bytes
        self._pending: dict[str, torch.Tensor] = {}
        self._pending_bytes = 0
        self._shards: list[tuple[Path, list[str]]] = []
        self._total = 0
        self._seen: set[str] = set()

    def add(self, key: str, tensor: torch.Tensor) -> None:
        if key in self._seen:
            raise AnimatexError(f"tensor {key} was written twice")
        self._seen.add(key)
        size = tensor.numel() * tensor.element_size()
        if self._pending and self._pending_bytes + size > self.max_shard_bytes:
            self._flush()
        self._pending[key] = tensor.detach().cpu().contiguous()
        self._pending_bytes += size
        self._total += size

    def _flush(self) -> None:
        path = self.out_dir / f".{self.weights_name}-part{len(self._shards):05d}.safetensors"
        save_file(self._pending, str(path), metadata={"format": "pt"})
        self._shards.append((path, list(self._pending)))
        self._pending, self._pending_bytes = {}, 0

    def close(self) -> list[Path]:
        """Flush, give the shards their final names, write the index when there is more than one."""
        if self._pending or not self._shards:
            self._flush()
        count = len(self._shards)
        if count == 1:
            final = self.out_dir / f"{self.weights_name}.safetensors"
            self._shards[0][0].replace(final)
            return [final]
        weight_map, finals = {}, []
        for index, (path, keys) in enumerate(self._shards, start=1):
            final = self.out_dir / f"{self.weights_name}-{index:05d}-of-{count:05d}.safetensors"
            path.replace(final)
            finals.append(final)
            weight_map.update(dict.fromkeys(keys, final.name))
        index_file = self.out_dir / f"{self.weights_name}.safetensors.index.json"
        index_file.write_text(
            json.dumps(
                {"metadata": {"total_size": self._total}, "weight_map": weight_map}, indent=2, sort_keys=True
            )
        )
        return finals


def write_plan(
    plan: ConversionPlan,
    source: TensorSource,
    writer: ShardedSafetensorsWriter,
    dtype: torch.dtype | None = None,
    extra: Callable[[str, torch.Tensor], torch.Tensor] | None = None,
) -> None:
    """Stream a plan into a writer; `extra` may rewrite a tensor after conversion (e.g. merge a LoRA delta)."""
    for key, tensor in iter_converted(plan, source):
        if extra is not None:
            tensor = extra(key, tensor)
        if dtype is not None and tensor.is_floating_point():
            tensor = tensor.to(dtype)
        writer.add(key, tensor)
