"""Reading the user-supplied weight files of the feature networks (LPIPS, Inception, I3D).

No weight is ever downloaded: the user passes the standard files (docs/metrics.md says where to get them).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch
from torch import nn

from animatex.errors import AnimatexError
from animatex.io.tensors import load_torch_file

# Wrappers seen around state dicts in the wild: {"state_dict": ...} and DataParallel "module." prefixes.
_WRAPPER_KEYS = ("state_dict", "model", "net")


def load_state_dict_file(path: str | Path) -> dict[str, torch.Tensor]:
    """A flat {name: tensor} dict from a .safetensors file or a torch file (loaded with weights_only=True)."""
    path = Path(path)
    if not path.is_file():
        raise AnimatexError(f"weight file not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            state = load_file(str(path))
        except Exception as error:  # noqa: BLE001 - safetensors raises its own error type for a damaged header
            raise AnimatexError(
                f"{path} is not a safetensors file or is damaged; download it again"
            ) from error
    else:
        state = load_torch_file(path)
    for key in _WRAPPER_KEYS:
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise AnimatexError(f"{path} does not hold a flat {{name: tensor}} state dict")
    return {k.removeprefix("module."): v for k, v in state.items()}


def load_into(
    module: nn.Module,
    state: dict[str, torch.Tensor],
    source: str,
    ignore_prefixes: Iterable[str] = (),
) -> nn.Module:
    """Strictly load `state` into `module`, with a message naming missing, unexpected and mis-shaped keys.

    Keys starting with one of `ignore_prefixes` are dropped first (e.g. AlexNet's classifier for LPIPS).
    BatchNorm `num_batches_tracked` counters may be absent: files saved by old torch versions lack them.
    """
    ignore = tuple(ignore_prefixes)
    state = {k: v for k, v in state.items() if not (ignore and k.startswith(ignore))}
    own = module.state_dict()
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
              for k in state if k in own and state[k].shape != own[k].shape]  # fmt: skip
    if missing or unexpected or shapes:
        parts = []
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", shapes)):
            if keys:
                more = f" (+{len(keys) - 5} more)" if len(keys) > 5 else ""
                parts.append(f"{label}: {', '.join(keys[:5])}{more}")
        raise AnimatexError(f"{source} does not match {type(module).__name__}: " + "; ".join(parts))
    module.load_state_dict(state, strict=False)
    return module
