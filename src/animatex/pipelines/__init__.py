"""Inference pipelines: `AnimateXPipeline` (reference picture + driving pose -> video)."""

from animatex.pipelines.pipeline_animatex import AnimateXPipeline
from animatex.pipelines.pipeline_output import AnimateXPipelineOutput

__all__ = ["AnimateXPipeline", "AnimateXPipelineOutput"]
