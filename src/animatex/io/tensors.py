"""Reading `torch.save`d weight files safely: tensors only, never code.

torch is imported inside the function so `animatex.io` stays light for data loaders and the pose tools.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from animatex.errors import AnimatexError

PICKLE_REFUSAL = (
    "holds pickled Python objects that could run code when loaded; animatex only loads tensors: use a "
    "safetensors copy of it or a file from a source you trust that holds only tensors"
)


def load_torch_file(path: str | Path, *, mmap: bool = False) -> Any:
    """`torch.load(path, weights_only=True)` on the CPU, with one-line errors for refused or damaged files."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise AnimatexError(f"weight file not found: {path}")
    if path.stat().st_size == 0:
        raise AnimatexError(f"weight file {path} is empty (0 bytes); download or copy it again")
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as error:
        if "unsupported global" in str(error).lower():  # an object to build by calling a named function
            raise AnimatexError(f"{path} {PICKLE_REFUSAL}") from error
        raise AnimatexError(f"{path} is not a torch weight file or is damaged; download it again") from error
    except Exception as error:  # noqa: BLE001 - zip, pickle and EOF errors all mean a damaged or foreign file
        raise AnimatexError(
            f"{path} is not a torch weight file or is damaged ({type(error).__name__}); download it again"
        ) from error
