"""Wan's CLIP (`models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth`): ViT-H/14 visual + XLM-R text
tower, as `wan/modules/{clip,xlm_roberta}.py` lay it out.

Written from the public description of that file; see the package docstring."""

from __future__ import annotations

import math

import torch
from torch import nn

from animatex.convert.original_layouts.wan_dit import _attention


class WanCLIPSelfAttentionOriginal(nn.Module):
    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.to_qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.to_qkv(x).unflatten(-1, (3, self.num_heads, -1)).unbind(2)
        return self.proj(_attention(q, k, v))


class WanCLIPBlockOriginal(nn.Module):
    def __init__(self, dim: int, mlp_ratio: int, num_heads: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-5)
        self.attn = WanCLIPSelfAttentionOriginal(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-5)
        self.mlp = nn.Sequential(
            nn.Linear(dim, dim * mlp_ratio), nn.GELU(), nn.Linear(dim * mlp_ratio, dim), nn.Dropout(0.0)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class WanCLIPVisionOriginal(nn.Module):
    def __init__(
        self,
        image_size: int = 224,
        patch_size: int = 14,
        dim: int = 1280,
        mlp_ratio: int = 4,
        out_dim: int = 1024,
        num_heads: int = 16,
        num_layers: int = 32,
    ) -> None:
        super().__init__()
        num_patches = (image_size // patch_size) ** 2
        self.patch_embedding = nn.Conv2d(3, dim, kernel_size=patch_size, stride=patch_size, bias=False)
        self.cls_embedding = nn.Parameter(torch.randn(1, 1, dim) / dim**0.5)
        self.pos_embedding = nn.Parameter(torch.randn(1, num_patches + 1, dim) / dim**0.5)
        self.pre_norm = nn.LayerNorm(dim, eps=1e-5)
        self.transformer = nn.Sequential(
            *(WanCLIPBlockOriginal(dim, mlp_ratio, num_heads) for _ in range(num_layers))
        )
        self.post_norm = nn.LayerNorm(dim, eps=1e-5)
        self.head = nn.Parameter(torch.randn(dim, out_dim) / dim**0.5)

    def forward(self, x: torch.Tensor, use_31_block: bool = False) -> torch.Tensor:
        """Token features; with use_31_block (what Wan feeds its DiT) the last block is skipped."""
        x = self.patch_embedding(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_embedding.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embedding
        x = self.pre_norm(x)
        return self.transformer[:-1](x) if use_31_block else self.transformer(x)


class XLMRobertaBlockOriginal(nn.Module):
    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.attn = nn.Module()
        for name in ("q", "k", "v", "o"):
            setattr(self.attn, name, nn.Linear(dim, dim))
        self.norm1 = nn.LayerNorm(dim, eps=1e-5)
        self.ffn = nn.Sequential(nn.Linear(dim, dim * 4), nn.GELU(), nn.Linear(dim * 4, dim), nn.Dropout(0.0))
        self.norm2 = nn.LayerNorm(dim, eps=1e-5)


class XLMRobertaWithHeadOriginal(nn.Module):
    """The text tower (kept only to list every key of the released file; the converter drops it)."""

    def __init__(
        self,
        vocab: int = 250002,
        max_len: int = 514,
        dim: int = 1024,
        out_dim: int = 1024,
        num_heads: int = 16,
        num_layers: int = 24,
    ) -> None:
        super().__init__()
        self.token_embedding = nn.Embedding(vocab, dim)
        self.type_embedding = nn.Embedding(1, dim)
        self.pos_embedding = nn.Embedding(max_len, dim)
        self.blocks = nn.ModuleList(XLMRobertaBlockOriginal(dim, num_heads) for _ in range(num_layers))
        self.norm = nn.LayerNorm(dim, eps=1e-5)
        mid = (dim + out_dim) // 2
        self.head = nn.Sequential(
            nn.Linear(dim, mid, bias=False), nn.GELU(), nn.Linear(mid, out_dim, bias=False)
        )


class XLMRobertaCLIPOriginal(nn.Module):
    """Wan's image encoder file: `visual.*`, `textual.*`, `log_scale`."""

    def __init__(self, vision: dict | None = None, text: dict | None = None) -> None:
        super().__init__()
        self.visual = WanCLIPVisionOriginal(**(vision or {}))
        self.textual = XLMRobertaWithHeadOriginal(**(text or {}))
        self.log_scale = nn.Parameter(math.log(1 / 0.07) * torch.ones([]))


# ----------------------------------------------------------------------------------------------------------
