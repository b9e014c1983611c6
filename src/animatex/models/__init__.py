"""Torch models: the Animate-X++ transformer (Wan2.1 DiT + pose conditions) and its size presets.

Saved pipeline folders name this package as the transformer's library in model_index.json; diffusers' loader
looks `ModelMixin` up in it to find the load method, hence its export here.
"""

from diffusers import ModelMixin

from animatex.models.presets import ANIMATEX_PRESETS, build_transformer
from animatex.models.transformer_animatex import (
    AnimateXPoseFeatures,
    AnimateXTransformer3DModel,
    ImplicitPoseIndicator,
    PoseGuider,
    RefPoseEncoder,
)

__all__ = [
    "ANIMATEX_PRESETS",
    "AnimateXPoseFeatures",
    "AnimateXTransformer3DModel",
    "ImplicitPoseIndicator",
    "ModelMixin",
    "PoseGuider",
    "RefPoseEncoder",
    "build_transformer",
]
