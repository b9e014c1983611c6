"""Converters from the released Wan2.1 / Animate-X++ / OpenCLIP files to animatex's diffusers layout.

`original_layouts` (one module per released source) is the only package that spells the official parameter names.
"""

from animatex.convert.pipeline_folder import ConvertOptions, convert_to_pipeline

__all__ = ["ConvertOptions", "convert_to_pipeline"]
