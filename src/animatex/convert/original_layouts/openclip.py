"""OpenCLIP ViT-H-14 (`open_clip_pytorch_model.bin`, the IPI's frozen image encoder).

Written from the public description of that file; see the package docstring."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from animatex.convert.original_layouts.wan_dit import _attention


class OpenCLIPAttentionOriginal(nn.Module):
    """Same parameters as torch.nn.MultiheadAttention (`in_proj_weight` packs q, k, v)."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.in_proj_weight = nn.Parameter(torch.randn(3 * dim, dim) / dim**0.5)
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        self.out_proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = (
            F.linear(x, self.in_proj_weight, self.in_proj_bias)
            .unflatten(-1, (3, self.num_heads, -1))
            .unbind(2)
        )
        return self.out_proj(_attention(q, k, v))


class OpenCLIPResidualBlockOriginal(nn.Module):
    def __init__(self, width: int, heads: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        hidden = int(width * mlp_ratio)
        self.ln_1 = nn.LayerNorm(width)
        self.attn = OpenCLIPAttentionOriginal(width, heads)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = nn.Module()
        self.mlp.c_fc = nn.Linear(width, hidden)
        self.mlp.c_proj = nn.Linear(hidden, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp.c_proj(F.gelu(self.mlp.c_fc(self.ln_2(x))))


class OpenCLIPTransformerOriginal(nn.Module):
    def __init__(self, width: int, layers: int, heads: int) -> None:
        super().__init__()
        self.resblocks = nn.ModuleList(OpenCLIPResidualBlockOriginal(width, heads) for _ in range(layers))


class OpenCLIPVisionOriginal(nn.Module):
    def __init__(
        self,
        image_size: int = 224,
        patch_size: int = 14,
        width: int = 1280,
        layers: int = 32,
        heads: int = 16,
        output_dim: int = 1024,
    ) -> None:
        super().__init__()
        grid = image_size // patch_size
        self.conv1 = nn.Conv2d(3, width, kernel_size=patch_size, stride=patch_size, bias=False)
        self.class_embedding = nn.Parameter(torch.randn(width) / width**0.5)
        self.positional_embedding = nn.Parameter(torch.randn(grid * grid + 1, width) / width**0.5)
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = OpenCLIPTransformerOriginal(width, layers, heads)
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(torch.randn(width, output_dim) / width**0.5)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (pooled projected embedding (B, output_dim), tokens after the last block (B, L, width))."""
        x = self.conv1(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.class_embedding.expand(x.shape[0], 1, -1), x], dim=1) + self.positional_embedding
        x = self.ln_pre(x)
        for block in self.transformer.resblocks:
            x = block(x)
        return self.ln_post(x[:, 0]) @ self.proj, x


class OpenCLIPModelOriginal(nn.Module):
    """The whole OpenCLIP CLIP model as stored in `open_clip_pytorch_model.bin` (visual + text tower)."""

    def __init__(
        self,
        embed_dim: int = 1024,
        vision: dict | None = None,
        context_length: int = 77,
        vocab_size: int = 49408,
        text_width: int = 1024,
        text_heads: int = 16,
        text_layers: int = 24,
    ) -> None:
        super().__init__()
        self.visual = OpenCLIPVisionOriginal(output_dim=embed_dim, **(vision or {}))
        self.transformer = OpenCLIPTransformerOriginal(text_width, text_layers, text_heads)
        self.token_embedding = nn.Embedding(vocab_size, text_width)
        self.positional_embedding = nn.Parameter(torch.empty(context_length, text_width))
        self.ln_final = nn.LayerNorm(text_width)
        self.text_projection = nn.Parameter(torch.empty(text_width, embed_dim))
        self.logit_scale = nn.Parameter(torch.ones([]) * math.log(1 / 0.07))


# ----------------------------------------------------------------------------------------------------------
