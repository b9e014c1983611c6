"""Wan2.1 VAE (`Wan2.1_VAE.pth`), as `wan/modules/vae.py` lays it out.

Written from the public description of that file; see the package docstring."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class CausalConv3dOriginal(nn.Conv3d):
    """Conv3d padded causally in time (2 * pad frames in front, none behind)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        pt, ph, pw = self.padding
        self._causal_padding = (pw, pw, ph, ph, 2 * pt, 0)
        self.padding = (0, 0, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, self._causal_padding))


class RMSNormChannelsOriginal(nn.Module):
    """Channel-first RMS norm with a `gamma` of shape (C, 1, 1[, 1])."""

    def __init__(self, dim: int, images: bool = True) -> None:
        super().__init__()
        self.scale = dim**0.5
        self.gamma = nn.Parameter(torch.ones(dim, *((1, 1) if images else (1, 1, 1))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=1) * self.scale * self.gamma


class ResampleOriginal(nn.Module):
    def __init__(self, dim: int, mode: str) -> None:
        super().__init__()
        self.mode = mode
        if mode.startswith("upsample"):
            self.resample = nn.Sequential(
                nn.Upsample(scale_factor=(2.0, 2.0), mode="nearest-exact"),
                nn.Conv2d(dim, dim // 2, 3, padding=1),
            )
            if mode == "upsample3d":
                self.time_conv = CausalConv3dOriginal(dim, dim * 2, (3, 1, 1), padding=(1, 0, 0))
        else:
            self.resample = nn.Sequential(nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(dim, dim, 3, stride=(2, 2)))
            if mode == "downsample3d":
                self.time_conv = CausalConv3dOriginal(
                    dim, dim, (3, 1, 1), stride=(2, 1, 1), padding=(0, 0, 0)
                )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Single-frame path: the first chunk never runs `time_conv` in the original cached loop."""
        b, t = x.shape[0], x.shape[2]
        x = self.resample(x.transpose(1, 2).flatten(0, 1))
        return x.unflatten(0, (b, t)).transpose(1, 2)


class ResidualBlockOriginal(nn.Module):
    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.residual = nn.Sequential(
            RMSNormChannelsOriginal(in_dim, images=False),
            nn.SiLU(),
            CausalConv3dOriginal(in_dim, out_dim, 3, padding=1),
            RMSNormChannelsOriginal(out_dim, images=False),
            nn.SiLU(),
            nn.Dropout(0.0),
            CausalConv3dOriginal(out_dim, out_dim, 3, padding=1),
        )
        self.shortcut = CausalConv3dOriginal(in_dim, out_dim, 1) if in_dim != out_dim else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.residual(x) + self.shortcut(x)


class VAEAttentionBlockOriginal(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = RMSNormChannelsOriginal(dim)
        self.to_qkv = nn.Conv2d(dim, dim * 3, 1)
        self.proj = nn.Conv2d(dim, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        frames = x.transpose(1, 2).flatten(0, 1)  # (B*T, C, H, W)
        q, k, v = self.to_qkv(self.norm(frames)).flatten(2).transpose(1, 2).unsqueeze(1).chunk(3, dim=-1)
        out = F.scaled_dot_product_attention(q, k, v).squeeze(1).transpose(1, 2).reshape(b * t, c, h, w)
        return self.proj(out).unflatten(0, (b, t)).transpose(1, 2) + x


class Encoder3dOriginal(nn.Module):
    def __init__(
        self, dim: int, z_dim: int, dim_mult: list[int], num_res_blocks: int, temporal_down: list[bool]
    ) -> None:
        super().__init__()
        dims = [dim * u for u in [1, *dim_mult]]
        self.conv1 = CausalConv3dOriginal(3, dims[0], 3, padding=1)
        layers: list[nn.Module] = []
        for i, (in_dim, out_dim) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
            for _ in range(num_res_blocks):
                layers.append(ResidualBlockOriginal(in_dim, out_dim))
                in_dim = out_dim
            if i != len(dim_mult) - 1:
                layers.append(
                    ResampleOriginal(out_dim, "downsample3d" if temporal_down[i] else "downsample2d")
                )
        self.downsamples = nn.Sequential(*layers)
        self.middle = nn.Sequential(
            ResidualBlockOriginal(out_dim, out_dim),
            VAEAttentionBlockOriginal(out_dim),
            ResidualBlockOriginal(out_dim, out_dim),
        )
        self.head = nn.Sequential(
            RMSNormChannelsOriginal(out_dim, images=False),
            nn.SiLU(),
            CausalConv3dOriginal(out_dim, z_dim, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.middle(self.downsamples(self.conv1(x))))


class Decoder3dOriginal(nn.Module):
    def __init__(
        self, dim: int, z_dim: int, dim_mult: list[int], num_res_blocks: int, temporal_up: list[bool]
    ) -> None:
        super().__init__()
        dims = [dim * u for u in [dim_mult[-1], *dim_mult[::-1]]]
        self.conv1 = CausalConv3dOriginal(z_dim, dims[0], 3, padding=1)
        self.middle = nn.Sequential(
            ResidualBlockOriginal(dims[0], dims[0]),
            VAEAttentionBlockOriginal(dims[0]),
            ResidualBlockOriginal(dims[0], dims[0]),
        )
        layers: list[nn.Module] = []
        for i, (in_dim, out_dim) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
            if i in (1, 2, 3):
                in_dim = in_dim // 2
            for _ in range(num_res_blocks + 1):
                layers.append(ResidualBlockOriginal(in_dim, out_dim))
                in_dim = out_dim
            if i != len(dim_mult) - 1:
                layers.append(ResampleOriginal(out_dim, "upsample3d" if temporal_up[i] else "upsample2d"))
        self.upsamples = nn.Sequential(*layers)
        self.head = nn.Sequential(
            RMSNormChannelsOriginal(out_dim, images=False),
            nn.SiLU(),
            CausalConv3dOriginal(out_dim, 3, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.upsamples(self.middle(self.conv1(x))))


class WanVAEOriginal(nn.Module):
    """The Wan2.1 video VAE in its released layout (`encoder`, `conv1`, `conv2`, `decoder`)."""

    def __init__(
        self,
        dim: int = 96,
        z_dim: int = 16,
        dim_mult: tuple[int, ...] = (1, 2, 4, 4),
        num_res_blocks: int = 2,
        temporal_downsample: tuple[bool, ...] = (False, True, True),
    ) -> None:
        super().__init__()
        self.encoder = Encoder3dOriginal(
            dim, z_dim * 2, list(dim_mult), num_res_blocks, list(temporal_downsample)
        )
        self.conv1 = CausalConv3dOriginal(z_dim * 2, z_dim * 2, 1)
        self.conv2 = CausalConv3dOriginal(z_dim, z_dim, 1)
        self.decoder = Decoder3dOriginal(
            dim, z_dim, list(dim_mult), num_res_blocks, list(temporal_downsample)[::-1]
        )

    def encode_first_frame(self, x: torch.Tensor) -> torch.Tensor:
        """Posterior mean of a single frame (B, 3, 1, H, W): the original's first, cache-free chunk."""
        return self.conv1(self.encoder(x)).chunk(2, dim=1)[0]

    def decode_first_frame(self, z: torch.Tensor) -> torch.Tensor:
        """Decode one latent frame (B, z, 1, h, w), the original's first chunk."""
        return self.decoder(self.conv2(z))


# ----------------------------------------------------------------------------------------------------------
