"""Torch models: the Animate-X++ transformer (Wan2.1 DiT + pose conditions) and its size presets."""

from animatex.models.presets import ANIMATEX_PRESETS, build_transformer
from animatex.models.transformer_animatex import (
    AnimateXTransformer3DModel,
    ImplicitPoseIndicator,
    PoseGuider,
    RefPoseEncoder,
)

__all__ = [
    "ANIMATEX_PRESETS",
    "AnimateXTransformer3DModel",
    "ImplicitPoseIndicator",
    "PoseGuider",
    "RefPoseEncoder",
    "build_transformer",
]
