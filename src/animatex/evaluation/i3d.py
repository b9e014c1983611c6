"""I3D (Carreira & Zisserman 2017, Inception-v1 inflated to 3D) for FVD, in the pytorch-i3d layout.

Module names follow `InceptionI3d` of the widely used pytorch-i3d port, so its Kinetics-400 files
(`rgb_imagenet.pt`, and `i3d_pretrained_400.pt` used by the DisCo / StyleGAN-V FVD code) load as is:
`Conv3d_1a_7x7.conv3d.weight`, `Mixed_4b.b1b.bn.running_mean`, `logits.conv3d.bias`, ...
TensorFlow "SAME" padding is computed from the input size at run time, as in the original graph.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from animatex.evaluation.weights import load_into, load_state_dict_file

I3D_RESOLUTION = 224
CLIP_LENGTH = 16
NUM_CLASSES = 400


def _same_padding(size: tuple[int, ...], kernel: tuple[int, ...], stride: tuple[int, ...]) -> list[int]:
    """F.pad arguments (last dim first) for TF SAME padding; the extra pixel goes after."""
    pads: list[int] = []
    for s, k, st in zip(reversed(size), reversed(kernel), reversed(stride), strict=True):
        total = max(k - st, 0) if s % st == 0 else max(k - s % st, 0)
        pads += [total // 2, total - total // 2]
    return pads


class MaxPool3dSame(nn.Module):
    def __init__(self, kernel_size: tuple[int, int, int], stride: tuple[int, int, int]) -> None:
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Zero padding before a max pool is harmless here: inputs follow a ReLU, so they are >= 0.
        x = F.pad(x, _same_padding(tuple(x.shape[2:]), self.kernel_size, self.stride))
        return F.max_pool3d(x, self.kernel_size, self.stride)


class Unit3D(nn.Module):
    """SAME-padded Conv3d + BatchNorm (eps 1e-3) + ReLU; the logits layer has a bias and neither of the rest."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: tuple[int, int, int] = (1, 1, 1),
        stride: tuple[int, int, int] = (1, 1, 1),
        batch_norm: bool = True,
        activation: bool = True,
    ) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.activation = kernel_size, stride, activation
        self.conv3d = nn.Conv3d(in_channels, out_channels, kernel_size, stride=stride, bias=not batch_norm)
        self.bn = nn.BatchNorm3d(out_channels, eps=0.001, momentum=0.01) if batch_norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv3d(F.pad(x, _same_padding(tuple(x.shape[2:]), self.kernel_size, self.stride)))
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x) if self.activation else x


class InceptionModule(nn.Module):
    """Four branches: 1x1 | 1x1 -> 3x3x3 | 1x1 -> 3x3x3 | max pool -> 1x1."""

    def __init__(self, in_channels: int, widths: tuple[int, int, int, int, int, int]) -> None:
        super().__init__()
        self.b0 = Unit3D(in_channels, widths[0])
        self.b1a = Unit3D(in_channels, widths[1])
        self.b1b = Unit3D(widths[1], widths[2], kernel_size=(3, 3, 3))
        self.b2a = Unit3D(in_channels, widths[3])
        self.b2b = Unit3D(widths[3], widths[4], kernel_size=(3, 3, 3))
        self.b3a = MaxPool3dSame((3, 3, 3), (1, 1, 1))
        self.b3b = Unit3D(in_channels, widths[5])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(
            [self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], dim=1
        )


# (name, input channels, branch widths) of the nine Inception blocks; pools sit between the groups.
_BLOCKS: tuple[tuple[str, int, tuple[int, int, int, int, int, int]], ...] = (
    ("Mixed_3b", 192, (64, 96, 128, 16, 32, 32)),
    ("Mixed_3c", 256, (128, 128, 192, 32, 96, 64)),
    ("Mixed_4b", 480, (192, 96, 208, 16, 48, 64)),
    ("Mixed_4c", 512, (160, 112, 224, 24, 64, 64)),
    ("Mixed_4d", 512, (128, 128, 256, 24, 64, 64)),
    ("Mixed_4e", 512, (112, 144, 288, 32, 64, 64)),
    ("Mixed_4f", 528, (256, 160, 320, 32, 128, 128)),
    ("Mixed_5b", 832, (256, 160, 320, 32, 128, 128)),
    ("Mixed_5c", 832, (384, 192, 384, 48, 128, 128)),
)
_POOL_BEFORE = {
    "Mixed_3b": ("MaxPool3d_3a_3x3", (1, 3, 3), (1, 2, 2)),
    "Mixed_4b": ("MaxPool3d_4a_3x3", (3, 3, 3), (2, 2, 2)),
    "Mixed_5b": ("MaxPool3d_5a_2x2", (2, 2, 2), (2, 2, 2)),
}


class InceptionI3d(nn.Module):
    """Clips (B, 3, T, H, W) in [-1, 1] -> (B, 400) Kinetics logits, averaged over the remaining time steps.

    `features` gives the (B, 1024) pooled activations before the logits layer instead.
    """

    def __init__(self, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        self.Conv3d_1a_7x7 = Unit3D(3, 64, kernel_size=(7, 7, 7), stride=(2, 2, 2))
        self.MaxPool3d_2a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(64, 64)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, kernel_size=(3, 3, 3))
        for name, in_channels, widths in _BLOCKS:
            if name in _POOL_BEFORE:
                pool_name, kernel, stride = _POOL_BEFORE[name]
                self.add_module(pool_name, MaxPool3dSame(kernel, stride))
            self.add_module(name, InceptionModule(in_channels, widths))
        self.logits = Unit3D(1024, num_classes, batch_norm=False, activation=False)
        self.eval().requires_grad_(False)

    def _trunk(self, clips: torch.Tensor) -> torch.Tensor:
        if clips.ndim != 5 or clips.shape[1] != 3:
            raise ValueError(f"InceptionI3d needs clips (B, 3, T, H, W) in [-1, 1], got {tuple(clips.shape)}")
        x = self.Conv3d_2c_3x3(self.Conv3d_2b_1x1(self.MaxPool3d_2a_3x3(self.Conv3d_1a_7x7(clips))))
        for name, _, _ in _BLOCKS:
            if name in _POOL_BEFORE:
                x = getattr(self, _POOL_BEFORE[name][0])(x)
            x = getattr(self, name)(x)
        # (B, 1024, T/8, H/32, W/32); the original averages 7x7 windows, i.e. the whole 224 px frame.
        if x.shape[-2:] != (7, 7):
            raise ValueError(
                f"InceptionI3d expects {I3D_RESOLUTION} px frames, got {tuple(clips.shape[-2:])}"
            )
        return F.avg_pool3d(x, kernel_size=(1, 7, 7))  # (B, 1024, T', 1, 1)

    def features(self, clips: torch.Tensor) -> torch.Tensor:
        """(B, 1024): pooled activations averaged over time."""
        return self._trunk(clips).mean(dim=(2, 3, 4))

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        # Dropout before the logits is the identity in eval mode, so it is left out.
        return self.logits(self._trunk(clips)).mean(dim=(2, 3, 4))  # (B, num_classes)

    @classmethod
    def from_file(cls, path: str | Path) -> InceptionI3d:
        """From pytorch-i3d's `rgb_imagenet.pt` / `i3d_pretrained_400.pt` (or the same keys as safetensors)."""
        return load_into(cls(), load_state_dict_file(path), str(path))
