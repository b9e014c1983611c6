"""The flow-matching objective: x_t = (1 - sigma) x0 + sigma noise, the model predicts noise - x0."""

from __future__ import annotations

import torch
from diffusers.training_utils import compute_density_for_timestep_sampling

from animatex.training.config import FlowConfig


def shift_sigmas(u: torch.Tensor, shift: float) -> torch.Tensor:
    """The flow-matching time shift: more weight on high noise for large outputs (Wan uses 5)."""
    return shift * u / (1 + (shift - 1) * u)


def sample_sigmas(batch_size: int, config: FlowConfig, generator: torch.Generator) -> torch.Tensor:
    """(B,) noise levels in (0, 1) from the configured timestep density (diffusers' SD3 one), then shifted.

    Continuous, unlike diffusers' SD3 script (which rounds u to one of the scheduler's 1000 timesteps): the
    Wan DiT takes any real timestep, and the demo model was trained this way.
    """
    scheme = "logit_normal" if config.timesteps == "logit_normal" else "none"
    u = compute_density_for_timestep_sampling(
        scheme, batch_size, logit_mean=config.logit_mean, logit_std=config.logit_std, generator=generator
    )
    return shift_sigmas(u.clamp(1e-4, 1 - 1e-4), config.shift)


def add_noise(latents: torch.Tensor, noise: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
    """x_t for latents (B, C, T, H, W) at per-sample noise levels (B,)."""
    sigmas = sigmas.view(-1, *([1] * (latents.ndim - 1))).to(latents)
    return (1 - sigmas) * latents + sigmas * noise


def flow_matching_loss(prediction: torch.Tensor, latents: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """MSE against the velocity target noise - x0, in float32."""
    target = (noise - latents).float()
    return torch.nn.functional.mse_loss(prediction.float(), target)
