"""Pixel metrics between a generated video and its ground truth (Animate-X, arXiv 2410.10306, A2Bench evaluation).

Every function takes videos as (F, H, W, 3) arrays, uint8 (0..255) or float (0..1), and works in float64
on [0, 1] values. Frame-wise metrics are computed per frame and then averaged over frames, as the
DisCo evaluation code (which Animate-X's numbers follow) averages over per-frame image files.
Conventions and how they relate to published numbers: docs/metrics.md.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

# PSNR of identical frames is capped here, like the DisCo code (which returns 100 when the MSE is 0), so
# that a mean over frames stays finite.
MAX_PSNR = 100.0
# BT.601 luma weights: what OpenCV's COLOR_BGR2GRAY (used by the DisCo SSIM) applies.
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114])
# A pixel belongs to the drawn character when any channel differs from the clean background by more than
# this (in 0..1 units, about 25/255): above video-codec noise, below any visible colour change.
SILHOUETTE_THRESHOLD = 0.1
_FLOAT_TOLERANCE = 1e-3


# ---- input checks -------------------------------------------------------------------------------------
def to_float_video(video: np.ndarray, name: str = "video") -> np.ndarray:
    """(F, H, W, 3) uint8 or float in [0, 1] -> float64 in [0, 1]."""
    array = np.asarray(video)
    if array.ndim != 4 or array.shape[-1] != 3:
        raise ValueError(f"{name} must have shape (frames, height, width, 3), got {array.shape}")
    if array.shape[0] == 0:
        raise ValueError(f"{name} has no frames")
    if array.dtype == np.uint8:
        return array.astype(np.float64) / 255.0
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"{name} must be uint8 (0..255) or float (0..1), got dtype {array.dtype}")
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    low, high = float(array.min()), float(array.max())
    if low < -_FLOAT_TOLERANCE or high > 1 + _FLOAT_TOLERANCE:
        raise ValueError(f"float {name} must be in [0, 1], got values in [{low:.4g}, {high:.4g}]")
    return np.clip(array, 0.0, 1.0)


def _pair(result: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = to_float_video(result, "result"), to_float_video(target, "target")
    if a.shape != b.shape:
        raise ValueError(f"result and target shapes differ: {a.shape} vs {b.shape}")
    return a, b


def _mask(mask: np.ndarray, shape: tuple[int, ...], name: str = "mask") -> np.ndarray:
    mask = np.asarray(mask)
    if mask.dtype != np.bool_:
        raise ValueError(f"{name} must be a bool array, got dtype {mask.dtype}")
    if mask.shape != tuple(shape[:3]):
        raise ValueError(
            f"{name} must have shape (frames, height, width) = {tuple(shape[:3])}, got {mask.shape}"
        )
    return mask


def _psnr_from_mse(mse: np.ndarray) -> np.ndarray:
    return np.minimum(10.0 * np.log10(1.0 / np.maximum(mse, 1e-300)), MAX_PSNR)


# ---- full-frame metrics -------------------------------------------------------------------------------
def psnr_star(result: np.ndarray, target: np.ndarray) -> float:
    """PSNR* in dB: per-frame 10 log10(1 / MSE) on float64 [0, 1] pixels (all channels), mean over frames.

    The star marks the float computation: older code subtracted uint8 arrays, which wraps around.
    Identical frames score `MAX_PSNR` (100 dB).
    """
    a, b = _pair(result, target)
    mse = ((a - b) ** 2).mean(axis=(1, 2, 3))
    return float(_psnr_from_mse(mse).mean())


def l1(result: np.ndarray, target: np.ndarray, convention: Literal["unit", "disco"] = "unit") -> float:
    """Mean absolute error over all pixels and channels.

    `convention="unit"` (ours): on [0, 1] values. `convention="disco"`: the scale of the published numbers
    (e.g. 1.02e-4): the DisCo code takes |a - b| on 0..255 values and divides by H * W before averaging,
    i.e. unit * 255 / (H * W).
    """
    a, b = _pair(result, target)
    value = float(np.abs(a - b).mean())
    if convention == "unit":
        return value
    if convention == "disco":
        return value * 255.0 / (a.shape[1] * a.shape[2])
    raise ValueError(f"l1 convention must be 'unit' or 'disco', got {convention!r}")


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = g / g.sum()
    return torch.outer(g, g)


def _uniform_window(size: int = 7) -> torch.Tensor:
    return torch.full((size, size), 1.0 / size**2, dtype=torch.float64)


def ssim_maps(
    result: np.ndarray,
    target: np.ndarray,
    colour: Literal["grey", "rgb"] = "grey",
    window: Literal["gaussian", "uniform"] = "gaussian",
) -> np.ndarray:
    """Per-pixel SSIM maps (F, H - w + 1, W - w + 1) over the valid window positions (no padding).

    `colour="grey"`: on BT.601 luma, as the DisCo code (cvtColor to grey, then SSIM); `"rgb"`: per channel,
    then the mean of the three maps. `window="gaussian"`: Wang et al. 2004 (11x11, sigma 1.5, population
    covariances); `"uniform"`: scikit-image's default (7x7 box, sample covariances) that the DisCo code ran.
    Constants K1 = 0.01, K2 = 0.03 with data range 1.
    """
    a, b = _pair(result, target)
    if colour == "grey":
        a, b = (a @ LUMA_WEIGHTS)[..., None], (b @ LUMA_WEIGHTS)[..., None]
    elif colour != "rgb":
        raise ValueError(f"ssim colour must be 'grey' or 'rgb', got {colour!r}")
    if window == "gaussian":
        kernel, sample_correction = _gaussian_window(), 1.0
    elif window == "uniform":
        kernel = _uniform_window()
        n = kernel.numel()
        sample_correction = n / (n - 1)
    else:
        raise ValueError(f"ssim window must be 'gaussian' or 'uniform', got {window!r}")
    size = kernel.shape[0]
    if a.shape[1] < size or a.shape[2] < size:
        raise ValueError(f"ssim needs frames of at least {size}x{size} pixels, got {a.shape[1]}x{a.shape[2]}")

    # (F, H, W, C) -> (F * C, 1, H, W): each channel is filtered on its own.
    frames, height, width, channels = a.shape
    x = torch.from_numpy(a).permute(0, 3, 1, 2).reshape(-1, 1, height, width)
    y = torch.from_numpy(b).permute(0, 3, 1, 2).reshape(-1, 1, height, width)
    weight = kernel[None, None]
    mu_x, mu_y = F.conv2d(x, weight), F.conv2d(y, weight)
    var_x = (F.conv2d(x * x, weight) - mu_x**2) * sample_correction
    var_y = (F.conv2d(y * y, weight) - mu_y**2) * sample_correction
    cov = (F.conv2d(x * y, weight) - mu_x * mu_y) * sample_correction
    c1, c2 = 0.01**2, 0.03**2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    ssim_map = ssim_map.reshape(frames, channels, *ssim_map.shape[-2:]).mean(dim=1)
    return ssim_map.numpy()


def ssim(
    result: np.ndarray,
    target: np.ndarray,
    colour: Literal["grey", "rgb"] = "grey",
    window: Literal["gaussian", "uniform"] = "gaussian",
) -> float:
    """Mean SSIM: per frame the mean of its SSIM map (see `ssim_maps` for the options), then over frames."""
    return float(ssim_maps(result, target, colour, window).mean(axis=(1, 2)).mean())


# ---- character-region metrics -------------------------------------------------------------------------
def fg_psnr(result: np.ndarray, target: np.ndarray, mask: np.ndarray) -> float:
    """PSNR* over the pixels inside the ground-truth character mask (F, H, W) bool, per frame then mean.

    Frames whose mask is empty are skipped; NaN when every frame's mask is empty.
    """
    a, b = _pair(result, target)
    mask = _mask(mask, a.shape)
    counts = mask.sum(axis=(1, 2))
    keep = counts > 0
    if not keep.any():
        return float("nan")
    squared = ((a - b) ** 2).mean(axis=-1) * mask
    mse = squared.sum(axis=(1, 2))[keep] / counts[keep]
    return float(_psnr_from_mse(mse).mean())


def fg_ssim(
    result: np.ndarray,
    target: np.ndarray,
    mask: np.ndarray,
    colour: Literal["grey", "rgb"] = "grey",
    window: Literal["gaussian", "uniform"] = "gaussian",
) -> float:
    """SSIM averaged over the mask pixels where a whole window fits (the valid region), per frame then mean.

    Frames whose mask has no pixel in the valid region are skipped; NaN when none has.
    """
    maps = ssim_maps(result, target, colour, window)
    mask = _mask(mask, np.shape(result))
    # The valid SSIM map drops (size - 1) / 2 pixels on every side; crop the mask the same way.
    border = (mask.shape[1] - maps.shape[1]) // 2
    inner = mask[:, border : border + maps.shape[1], border : border + maps.shape[2]]
    counts = inner.sum(axis=(1, 2))
    keep = counts > 0
    if not keep.any():
        return float("nan")
    return float(((maps * inner).sum(axis=(1, 2))[keep] / counts[keep]).mean())


def drawn_mask(
    result: np.ndarray, background: np.ndarray, threshold: float = SILHOUETTE_THRESHOLD
) -> np.ndarray:
    """(F, H, W) bool: pixels where any channel of `result` differs from the clean background by > threshold.

    `background` is one frame (H, W, 3) or a video (F, H, W, 3) of the scene without the character.
    """
    frames = to_float_video(result, "result")
    background = np.asarray(background)
    if background.ndim == 3:
        background = background[None]
    bg = to_float_video(background, "background")
    if bg.shape[1:] != frames.shape[1:] or bg.shape[0] not in (1, frames.shape[0]):
        raise ValueError(
            f"background must be (H, W, 3) or (F, H, W, 3) matching result {frames.shape}, got {bg.shape}"
        )
    if not 0 < threshold < 1:
        raise ValueError(f"silhouette threshold must be in (0, 1), got {threshold}")
    return np.abs(frames - bg).max(axis=-1) > threshold


def silhouette_iou(
    result: np.ndarray,
    background: np.ndarray,
    mask: np.ndarray,
    threshold: float = SILHOUETTE_THRESHOLD,
) -> float:
    """IoU between where a character was drawn (`drawn_mask`) and the ground-truth character mask.

    Per frame, then the mean over frames; a frame where both are empty scores 1. It measures the body
    SHAPE: a character stretched to human proportions overlaps its true silhouette badly even when its
    colours are right. A moving background in the result also counts as "drawn", so pass the clean
    background video when the scene moves.
    """
    drawn = drawn_mask(result, background, threshold)
    mask = _mask(mask, drawn.shape)
    intersection = (drawn & mask).sum(axis=(1, 2))
    union = (drawn | mask).sum(axis=(1, 2))
    iou = np.where(union > 0, intersection / np.maximum(union, 1), 1.0)
    return float(iou.mean())


def bg_motion(video: np.ndarray, mask: np.ndarray) -> float:
    """Mean |frame[t+1] - frame[t]| (0..1 units, all channels) over pixels outside the character mask.

    A pixel counts for the pair (t, t+1) when the mask is False in both frames. This is a property of ONE
    video: 0 for a frozen background; compare the result's value with the ground truth's. NaN when no
    pixel is outside the mask.
    """
    frames = to_float_video(video, "video")
    mask = _mask(mask, frames.shape)
    if len(frames) < 2:
        raise ValueError(f"bg_motion needs at least 2 frames, got {len(frames)}")
    outside = ~(mask[1:] | mask[:-1])
    if not outside.any():
        return float("nan")
    difference = np.abs(frames[1:] - frames[:-1]).mean(axis=-1)
    return float(difference[outside].mean())
