from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import PIL.Image
import torch
from diffusers.utils import BaseOutput


@dataclass
class AnimateXPipelineOutput(BaseOutput):
    """Output of `AnimateXPipeline`.

    Args:
        frames (`np.ndarray`, `torch.Tensor` or `list[list[PIL.Image.Image]]`):
            The videos: `np` (B, F, H, W, 3) float in [0, 1], `pt` (B, F, 3, H, W) in [0, 1], `pil` one list of
            frames per video, or `latent` (B, z_dim, latent_frames, H / 8, W / 8).
    """

    frames: np.ndarray | torch.Tensor | list[list[PIL.Image.Image]]
