"""LPIPS, FID, FID-VID and FVD on videos, with feature networks built from user-supplied weight files.

Without a network's weights the metric is skipped: the functions return None and `FeatureNetworks.notices`
says which option would enable it. Conventions (docs/metrics.md):
- LPIPS: per frame on [-1, 1] images at their own size, mean over frames.
- FID: Inception-v3 pool features of every frame of every video, results vs ground truth.
- FID-VID: one feature per video, the mean of its frames' Inception features (ours; DisCo used a 3D
  ResNet-50 whose weights are not commonly available, so the numbers are not comparable).
- FVD: I3D Kinetics-400 logits of non-overlapping 16-frame clips at 224 px, averaged per video (one
  feature per video, as the DisCo code); a video shorter than a clip repeats its last frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from animatex.evaluation.frechet import frechet_distance_features
from animatex.evaluation.i3d import CLIP_LENGTH, I3D_RESOLUTION, InceptionI3d
from animatex.evaluation.inception import InceptionV3FID
from animatex.evaluation.lpips import LPIPS
from animatex.evaluation.metrics import to_float_video

NOTICES = {
    "lpips": "LPIPS skipped: pass --lpips-weights PATH (torchvision alexnet-owt-7be5be79.pth) and "
    "--lpips-heads PATH (LPIPS v0.1 alex.pth); see docs/metrics.md",
    "fid": "FID skipped: pass --inception-weights PATH (pytorch-fid pt_inception-2015-12-05-6726825d.pth); "
    "see docs/metrics.md",
    "fid_vid": "FID-VID skipped: pass --inception-weights PATH (pytorch-fid "
    "pt_inception-2015-12-05-6726825d.pth); see docs/metrics.md",
    "fvd": "FVD skipped: pass --i3d-weights PATH (pytorch-i3d rgb_imagenet.pt or i3d_pretrained_400.pt); "
    "see docs/metrics.md",
}


def _to_tensor(video: np.ndarray, name: str, device: torch.device | str) -> torch.Tensor:
    """(F, H, W, 3) -> float32 (F, 3, H, W) in [0, 1]."""
    frames = to_float_video(video, name)
    return torch.from_numpy(frames).permute(0, 3, 1, 2).to(device=device, dtype=torch.float32)


@torch.no_grad()
def lpips_video(
    net: LPIPS | None, result: np.ndarray, target: np.ndarray, batch_size: int = 8
) -> float | None:
    """Mean LPIPS over frames; None without a network."""
    if net is None:
        return None
    device = next(net.parameters()).device
    a, b = _to_tensor(result, "result", device), _to_tensor(target, "target", device)
    if a.shape != b.shape:
        raise ValueError(f"result and target shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
    distances = [
        net(a[i : i + batch_size] * 2 - 1, b[i : i + batch_size] * 2 - 1)
        for i in range(0, len(a), batch_size)
    ]
    return float(torch.cat(distances).mean())


@torch.no_grad()
def inception_features(net: InceptionV3FID, video: np.ndarray, batch_size: int = 16) -> np.ndarray:
    """(F, 2048) pool features of every frame."""
    frames = _to_tensor(video, "video", next(net.parameters()).device)
    return (
        torch.cat([net(frames[i : i + batch_size]) for i in range(0, len(frames), batch_size)])
        .double()
        .cpu()
        .numpy()
    )


def video_clips(
    video: np.ndarray, clip_length: int = CLIP_LENGTH, size: int = I3D_RESOLUTION
) -> torch.Tensor:
    """(N, 3, clip_length, size, size) clips in [-1, 1]: non-overlapping, a short tail dropped.

    Frames are resized to size x size (bicubic, antialiased, like the PIL resize of the DisCo code); a video
    shorter than one clip repeats its last frame.
    """
    frames = _to_tensor(video, "video", "cpu")
    frames = F.interpolate(frames, size=(size, size), mode="bicubic", antialias=True, align_corners=False)
    frames = frames.clamp(0, 1) * 2 - 1
    if len(frames) < clip_length:
        frames = torch.cat([frames, frames[-1:].expand(clip_length - len(frames), -1, -1, -1)])
    count = len(frames) // clip_length
    clips = frames[: count * clip_length].reshape(count, clip_length, 3, size, size)
    return clips.permute(0, 2, 1, 3, 4).contiguous()  # (N, 3, T, H, W)


@torch.no_grad()
def i3d_video_feature(net: InceptionI3d, video: np.ndarray, clip_length: int = CLIP_LENGTH) -> np.ndarray:
    """(400,) I3D logits averaged over the video's 16-frame clips."""
    device = next(net.parameters()).device
    clips = video_clips(video, clip_length)
    logits = torch.cat([net(clip[None].to(device)) for clip in clips])
    return logits.mean(dim=0).double().cpu().numpy()


@dataclass
class FeatureNetworks:
    """The optional feature networks; a None network skips its metrics."""

    lpips: LPIPS | None = None
    inception: InceptionV3FID | None = None
    i3d: InceptionI3d | None = None

    @classmethod
    def from_files(
        cls,
        lpips_weights: str | Path | None = None,
        lpips_heads: str | Path | None = None,
        inception_weights: str | Path | None = None,
        i3d_weights: str | Path | None = None,
        lpips_net: str = "alex",
        device: str | torch.device = "cpu",
    ) -> FeatureNetworks:
        if lpips_heads is not None and lpips_weights is None:
            raise ValueError("--lpips-heads needs --lpips-weights (the backbone file) too")
        lpips = LPIPS.from_files(lpips_weights, lpips_heads, lpips_net).to(device) if lpips_weights else None
        inception = InceptionV3FID.from_file(inception_weights).to(device) if inception_weights else None
        i3d = InceptionI3d.from_file(i3d_weights).to(device) if i3d_weights else None
        return cls(lpips, inception, i3d)

    def notices(self) -> list[str]:
        """One line per skipped metric."""
        skipped = []
        if self.lpips is None:
            skipped.append("lpips")
        if self.inception is None:
            skipped += ["fid", "fid_vid"]
        if self.i3d is None:
            skipped.append("fvd")
        return [NOTICES[name] for name in skipped]


@dataclass
class DistributionMetrics:
    """FID / FID-VID / FVD accumulated one (result, ground truth) video pair at a time.

    Only features are kept, so a benchmark never holds all its videos in memory.
    """

    networks: FeatureNetworks
    _frames: list[list[np.ndarray]] = field(default_factory=lambda: [[], []])
    _videos: list[list[np.ndarray]] = field(default_factory=lambda: [[], []])
    _i3d: list[list[np.ndarray]] = field(default_factory=lambda: [[], []])

    def add(self, result: np.ndarray, target: np.ndarray) -> None:
        for side, video in enumerate((result, target)):
            if self.networks.inception is not None:
                features = inception_features(self.networks.inception, video)
                self._frames[side].append(features)
                self._videos[side].append(features.mean(axis=0))
            if self.networks.i3d is not None:
                self._i3d[side].append(i3d_video_feature(self.networks.i3d, video))

    def compute(self) -> dict[str, float | None]:
        """{"fid", "fid_vid", "fvd"}: None for a metric whose network is missing.

        Raises ValueError when a metric has fewer than 2 samples per side (FID-VID and FVD need 2 videos).
        """
        out: dict[str, float | None] = {"fid": None, "fid_vid": None, "fvd": None}
        if self.networks.inception is not None:
            out["fid"] = frechet_distance_features(*(np.concatenate(side) for side in self._frames))
            out["fid_vid"] = frechet_distance_features(*(np.stack(side) for side in self._videos))
        if self.networks.i3d is not None:
            out["fvd"] = frechet_distance_features(*(np.stack(side) for side in self._i3d))
        return out


def fid(
    net: InceptionV3FID | None, results: Sequence[np.ndarray], targets: Sequence[np.ndarray]
) -> float | None:
    """FID over all frames of the result videos vs the ground-truth videos; None without a network."""
    return _one_shot(FeatureNetworks(inception=net), results, targets, "fid")


def fid_vid(
    net: InceptionV3FID | None, results: Sequence[np.ndarray], targets: Sequence[np.ndarray]
) -> float | None:
    """FID on per-video mean Inception features; None without a network."""
    return _one_shot(FeatureNetworks(inception=net), results, targets, "fid_vid")


def fvd(
    net: InceptionI3d | None, results: Sequence[np.ndarray], targets: Sequence[np.ndarray]
) -> float | None:
    """FVD on per-video mean I3D logits of 16-frame clips; None without a network."""
    return _one_shot(FeatureNetworks(i3d=net), results, targets, "fvd")


def _one_shot(
    networks: FeatureNetworks, results: Sequence[np.ndarray], targets: Sequence[np.ndarray], key: str
) -> float | None:
    if networks.inception is None and networks.i3d is None:
        return None
    if len(results) != len(targets):
        raise ValueError(f"{len(results)} result videos but {len(targets)} ground-truth videos")
    accumulator = DistributionMetrics(networks)
    for result, target in zip(results, targets, strict=True):
        accumulator.add(result, target)
    return accumulator.compute()[key]
