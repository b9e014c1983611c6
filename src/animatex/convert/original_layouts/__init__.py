"""Module definitions that reproduce the PUBLISHED checkpoint layouts, written from their public descriptions.

This package (one module per released source) is the only place in animatex where official parameter names
appear. The classes exist for two reasons:
1. built on the meta device they give the exact key/shape manifest of each released file (no memory, no
   download), so the converters can be checked against every key of the full-size 14B checkpoints;
2. built at tiny size with random weights they produce state dicts "saved in the source layout", and the
   forwards below (DiT, UMT5 encoder, CLIP vision towers) compute what the original code computes, so a
   converted tiny model can be compared numerically with the directly built diffusers/transformers model.

Sources of truth (names and shapes): Wan2.1 `wan/modules/{model,vae,t5,clip,xlm_roberta}.py`, OpenCLIP's
`ViT-H-14` (`open_clip_pytorch_model.bin`), and the Animate-X++ release (`dwpose_embedding`,
`randomref_embedding_pose` in its pipeline, `DwposeEncoder`/`Resampler` in `IPI_module.py`, instantiated with
their defaults as `pose_embedding_before`/`pose_embedding_after`).
"""

from animatex.convert.original_layouts.animatex_official import *  # noqa: F403
from animatex.convert.original_layouts.openclip import *  # noqa: F403
from animatex.convert.original_layouts.umt5 import *  # noqa: F403
from animatex.convert.original_layouts.wan_clip import *  # noqa: F403
from animatex.convert.original_layouts.wan_dit import *  # noqa: F403
from animatex.convert.original_layouts.wan_vae import *  # noqa: F403
