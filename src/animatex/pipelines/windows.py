"""Long videos in windows of the model's native length: planning, blend weights and colour matching.

Pure functions (no model), used by `AnimateXPipeline` for driving videos longer than the length the model was
trained on. Two strategies (docs/pipeline.md, "Long videos"):

- "chain" (segment chaining, as Wan2.2-Animate): windows run one after the other; each window after the first
  is conditioned on the last `overlap` frames the previous one generated (given frames in `y`), so a window
  covers `window - overlap` new frames.
- "context" (latent context windows, as AnimateDiff / UniAnimate-DiT): at every denoising step the whole latent
  video is denoised in overlapping windows whose predictions are blended with weights ramped over the overlap;
  no window is ever conditioned on a decoded frame.
- "none": the whole video in one call (the model then runs far beyond its trained length).

Frame counts here are pixel frames unless a name says latent. The VAE packs frame 0 alone and then 4 frames per
latent frame, so a window is 4k+1 frames, chaining carries 4j+1 frames (whole latent frames) and context
windows overlap by a multiple of 4 frames (whole latent frames).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

STRATEGIES: tuple[str, ...] = ("chain", "context", "none")


@dataclass(frozen=True)
class WindowSettings:
    """How a long video is cut into windows. Fields left None take the pipeline's config defaults.

    Args:
        strategy: "chain", "context" or "none" (see the module docstring).
        frames: Window length in frames, 4k+1 (the model's native length: 81 for Wan2.1, 17 for the demo model).
        overlap: chain: frames carried into the next window (4j+1); context: frames two windows share (4j).
        colour_match: chain only: shift each new window's colours (per-channel mean and spread) so that its
            regenerated carried frames match the previous window's.
        carry_noise: chain only: standard deviation of the noise added to the carried frames' latents in `y`
            (0: none), so small errors are not copied verbatim from window to window.
        crossfade: chain only: the frames two windows share are written as a blend of both (weights ramped
            over the overlap) instead of the earlier window's alone.
    """

    strategy: str | None = None
    frames: int | None = None
    overlap: int | None = None
    colour_match: bool = False
    carry_noise: float = 0.0
    crossfade: bool = True


DEFAULT_OVERLAP = {"chain": 5, "context": 8}


def default_overlap(strategy: str, frames: int, stride: int = 4) -> int:
    """`DEFAULT_OVERLAP`, shortened for short windows (a 5-frame chain carries 1, a 9-frame context overlaps 4)."""
    if strategy == "context":
        return max(stride, min(DEFAULT_OVERLAP["context"], (frames - 1 - stride) // stride * stride))
    if strategy == "chain":
        return max(1, min(DEFAULT_OVERLAP["chain"], (frames - 3) // stride * stride + 1))
    return 0


def check_settings(strategy: str, frames: int, overlap: int, stride: int = 4) -> None:
    """Raise `ValueError` saying what to pass when the window settings cannot work."""
    if strategy not in STRATEGIES:
        raise ValueError(f"window strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    if strategy == "none":
        return
    if not isinstance(frames, int) or frames < stride + 1 or (frames - 1) % stride:
        raise ValueError(f"the window must be {stride}k+1 frames with k >= 1 (e.g. 17, 81), got {frames!r}")
    if strategy == "chain" and (not isinstance(overlap, int) or overlap < 1 or (overlap - 1) % stride):
        raise ValueError(f"chaining carries {stride}j+1 frames (1, 5, 9, ...), got overlap {overlap!r}")
    if strategy == "context" and (not isinstance(overlap, int) or overlap < stride or overlap % stride):
        raise ValueError(
            f"context windows overlap by a multiple of {stride} frames (4, 8, ...), got {overlap!r}"
        )
    # Each window must add new frames: chain at least one, context at least one latent frame.
    longest = frames - 2 if strategy == "chain" else frames - 1 - stride
    if overlap > longest:
        raise ValueError(
            f"the overlap ({overlap}) is too long for a {frames}-frame window: pass at most {longest}"
        )


def round_up_frames(num_frames: int, stride: int = 4) -> int:
    """The smallest stride*k+1 >= num_frames: what the VAE can encode; the extra frames are cut afterwards."""
    return (max(num_frames, 1) - 1 + stride - 1) // stride * stride + 1


def chain_windows(num_frames: int, window: int, carried: int) -> list[tuple[int, int]]:
    """[start, end) frames of each chained window; the last ends at or past `num_frames` (the rest is padding).

    Window i starts where the previous one's last `carried` frames begin, so consecutive windows share exactly
    `carried` frames. A video no longer than the window is one window of `round_up_frames(num_frames)`.
    """
    if num_frames <= window:
        return [(0, round_up_frames(num_frames))]
    step = window - carried
    count = 1 + -(-(num_frames - window) // step)  # ceil
    return [(i * step, i * step + window) for i in range(count)]


def context_windows(num_latent_frames: int, window: int, overlap: int) -> list[tuple[int, int]]:
    """[start, end) latent frames of overlapping windows covering `num_latent_frames` exactly.

    Windows advance by `window - overlap`; the last is moved back to end at the video's end (it then overlaps
    its neighbour by more than `overlap`).
    """
    if num_latent_frames <= window:
        return [(0, num_latent_frames)]
    step = window - overlap
    starts = list(range(0, num_latent_frames - window, step)) + [num_latent_frames - window]
    return [(start, start + window) for start in starts]


def blend_weights(windows: list[tuple[int, int]], length: int, overlap: int) -> list[torch.Tensor]:
    """Per window a (window,) weight over its frames; at every frame the weights of the windows covering it sum
    to one. Each window's raw weight ramps linearly from 1/(overlap+1) up to 1 over its first and last
    `overlap` frames where it meets a neighbour (the video's ends stay at 1), then all are normalised."""
    raw = []
    for index, (start, end) in enumerate(windows):
        weight = torch.ones(end - start, dtype=torch.float64)
        ramp = torch.arange(1, overlap + 1, dtype=torch.float64) / (overlap + 1)
        size = min(overlap, end - start)
        if index > 0:
            weight[:size] = torch.minimum(weight[:size], ramp[:size])
        if index < len(windows) - 1:
            weight[-size:] = torch.minimum(weight[-size:], ramp[:size].flip(0))
        raw.append(weight)
    total = torch.zeros(length, dtype=torch.float64)
    for (start, end), weight in zip(windows, raw, strict=True):
        total[start:end] += weight
    if (total == 0).any():
        raise ValueError("the windows do not cover every frame")
    return [(weight / total[start:end]).float() for (start, end), weight in zip(windows, raw, strict=True)]


def match_colours(video: torch.Tensor, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """`video` with each colour channel shifted and scaled so that `source` (part of it) gets `target`'s mean
    and standard deviation. Tensors are (B, C, F, H, W); the statistics are per video and channel."""
    dims = (2, 3, 4)
    source_mean, target_mean = source.mean(dims, keepdim=True), target.mean(dims, keepdim=True)
    source_std = source.std(dims, keepdim=True).clamp_min(1e-4)
    target_std = target.std(dims, keepdim=True)
    # Bound the gain: a nearly flat overlap (a blank background) must not blow the new window's contrast up.
    gain = (target_std / source_std).clamp(0.5, 2.0)
    return (video - source_mean) * gain + target_mean


def crossfade(previous: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
    """Blend two takes (B, C, k, H, W) of the same k frames: frame j is (j + 1) / (k + 1) `new`, the rest
    `previous`, so the video passes from one window to the next over the overlap."""
    count = previous.shape[2]
    weight = torch.arange(1, count + 1, dtype=previous.dtype, device=previous.device) / (count + 1)
    weight = weight.view(1, 1, -1, 1, 1)
    return previous * (1 - weight) + new * weight


def take_frames(frames: object, indices: list[int]) -> object:
    """The frames at `indices` of any per-frame input form: PoseSequence, array, tensor, or list."""
    if isinstance(frames, torch.Tensor):
        index = torch.as_tensor(indices, dtype=torch.long)
        return frames[:, :, index] if frames.ndim == 5 else frames[index]  # (1, 3, F, H, W) videos too
    if isinstance(frames, list | tuple):
        return [frames[i] for i in indices]
    import numpy as np

    return frames[np.asarray(indices)]
