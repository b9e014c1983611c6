"""animatex: universal character image animation (Animate-X++) on diffusers.

Heavy submodules (torch, diffusers) load on first use, so `animatex.pose` and `animatex.io` stay fast
to import.
"""

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "AnimateXTransformer3DModel": "animatex.models",
    "AnimateXPipeline": "animatex.pipelines",
    "PoseSequence": "animatex.pose",
}

__all__ = [*_LAZY, "__version__"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'animatex' has no attribute {name!r}")
