"""LPIPS (Zhang et al. 2018, "The Unreasonable Effectiveness of Deep Features as a Perceptual Metric").

Re-implemented without torchvision. The backbone keeps torchvision's module indices, so a torchvision
`alexnet` / `vgg16` state dict (`features.N.weight`) loads as is; the LPIPS v0.1 linear heads keep the
`lin{k}.model.1.weight` names of the official `weights/v0.1/{alex,vgg}.pth` files.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from animatex.evaluation.weights import load_into, load_state_dict_file

# Channels of the five tapped ReLU outputs and the indices (into `features`) that end each slice.
_BACKBONES: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "alex": ((64, 192, 384, 256, 256), (2, 5, 8, 10, 12)),
    "vgg": ((64, 128, 256, 512, 512), (4, 9, 16, 23, 30)),
}


def _alexnet_features() -> nn.Sequential:
    """torchvision's `alexnet().features` (indices 0..12)."""
    return nn.Sequential(
        nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(192, 384, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
    )  # fmt: skip


def _vgg16_features() -> nn.Sequential:
    """torchvision's `vgg16().features` (indices 0..30)."""
    layers: list[nn.Module] = []
    in_channels = 3
    for value in (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"):
        if value == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(in_channels, int(value), kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            in_channels = int(value)
    return nn.Sequential(*layers)


class ScalingLayer(nn.Module):
    """Maps [-1, 1] images to the backbone's ImageNet statistics (LPIPS's fixed shift and scale)."""

    def __init__(self) -> None:
        super().__init__()
        # Not in the state dict: the official weight files do not store them either.
        self.register_buffer(
            "shift", torch.tensor([-0.030, -0.088, -0.188])[None, :, None, None], persistent=False
        )
        self.register_buffer(
            "scale", torch.tensor([0.458, 0.448, 0.450])[None, :, None, None], persistent=False
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return (images - self.shift) / self.scale


class LinearHead(nn.Module):
    """A 1x1 convolution to one channel, no bias; the dropout slot keeps the official `model.1` key."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.model = nn.Sequential(nn.Dropout(), nn.Conv2d(channels, 1, kernel_size=1, bias=False))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.model(features)


class LPIPS(nn.Module):
    """LPIPS v0.1: distance between two image batches (B, 3, H, W) in [-1, 1] -> (B,), lower is closer."""

    def __init__(self, net: str = "alex") -> None:
        super().__init__()
        if net not in _BACKBONES:
            raise ValueError(f"LPIPS net must be one of {sorted(_BACKBONES)}, got {net!r}")
        self.net = net
        channels, self.slice_ends = _BACKBONES[net]
        self.scaling_layer = ScalingLayer()
        self.features = _alexnet_features() if net == "alex" else _vgg16_features()
        for k, c in enumerate(channels):
            self.add_module(f"lin{k}", LinearHead(c))
        self.eval().requires_grad_(False)

    def taps(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The five ReLU outputs of the backbone."""
        outputs, start, hidden = [], 0, self.scaling_layer(images)
        for end in self.slice_ends:
            for layer in self.features[start:end]:
                # In-place ReLUs would overwrite a tapped tensor; apply them out of place.
                hidden = torch.relu(hidden) if isinstance(layer, nn.ReLU) else layer(hidden)
            outputs.append(hidden)
            start = end
        return outputs

    def forward(self, images: torch.Tensor, others: torch.Tensor) -> torch.Tensor:
        if images.shape != others.shape or images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(
                f"LPIPS needs two (B, 3, H, W) batches of equal shape, got {images.shape}, {others.shape}"
            )
        distance = torch.zeros(images.shape[0], dtype=images.dtype, device=images.device)
        for k, (a, b) in enumerate(zip(self.taps(images), self.taps(others), strict=True)):
            a = a / (a.norm(dim=1, keepdim=True) + 1e-10)
            b = b / (b.norm(dim=1, keepdim=True) + 1e-10)
            distance = distance + getattr(self, f"lin{k}")((a - b) ** 2).mean(dim=(1, 2, 3))
        return distance

    @classmethod
    def from_files(cls, backbone: str | Path, heads: str | Path | None = None, net: str = "alex") -> LPIPS:
        """From the torchvision backbone file and the LPIPS v0.1 heads file (or one file holding both)."""
        model = cls(net)
        state = load_state_dict_file(backbone)
        source = str(backbone)
        if heads is not None:
            state = {**state, **load_state_dict_file(heads)}
            source = f"{backbone} + {heads}"
        return load_into(model, state, source, ignore_prefixes=("classifier.",))
