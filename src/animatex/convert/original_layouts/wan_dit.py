"""Wan2.1 DiT (`diffusion_pytorch_model-0000N-of-00007.safetensors`), as `wan/modules/model.py` lays it out.

Written from the public description of that file; see the package docstring."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class WanRMSNormOriginal(nn.Module):
    """RMS norm over the last dimension with a learned scale (`norm_q`, `norm_k`, `norm_k_img`)."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        normed = x.float() * torch.rsqrt(x.float().pow(2).mean(dim=-1, keepdim=True) + self.eps)
        return normed.type_as(x) * self.weight


def _rope_frequencies(head_dim: int, max_len: int = 1024, theta: float = 10000.0) -> list[torch.Tensor]:
    """Complex rotary tables for the (frame, height, width) axes, split as in the original model."""
    half = head_dim // 2
    sizes = [half - 2 * (half // 3), half // 3, half // 3]
    tables = []
    for size in sizes:
        axis_dim = 2 * size
        inv = 1.0 / theta ** (torch.arange(0, axis_dim, 2, dtype=torch.float64) / axis_dim)
        angles = torch.outer(torch.arange(max_len, dtype=torch.float64), inv)
        tables.append(torch.polar(torch.ones_like(angles), angles))
    return tables


def _rope_apply(x: torch.Tensor, grid: tuple[int, int, int], tables: list[torch.Tensor]) -> torch.Tensor:
    """Rotate adjacent channel pairs of x (B, L, heads, head_dim) by their (f, h, w) positions."""
    f, h, w = grid
    b, seq, heads, head_dim = x.shape
    pairs = torch.view_as_complex(x.double().reshape(b, seq, heads, head_dim // 2, 2))
    freqs = torch.cat(
        [
            tables[0][:f].view(f, 1, 1, -1).expand(f, h, w, -1),
            tables[1][:h].view(1, h, 1, -1).expand(f, h, w, -1),
            tables[2][:w].view(1, 1, w, -1).expand(f, h, w, -1),
        ],
        dim=-1,
    ).reshape(seq, 1, -1)
    return torch.view_as_real(pairs * freqs).flatten(3).type_as(x)


def _attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Plain softmax attention on (B, L, heads, head_dim) tensors."""
    out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
    return out.transpose(1, 2).flatten(2)


class WanSelfAttentionOriginal(nn.Module):
    def __init__(self, dim: int, num_heads: int, qk_norm: bool = True, eps: float = 1e-6) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.o = nn.Linear(dim, dim)
        self.norm_q = WanRMSNormOriginal(dim, eps) if qk_norm else nn.Identity()
        self.norm_k = WanRMSNormOriginal(dim, eps) if qk_norm else nn.Identity()

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.unflatten(-1, (self.num_heads, -1))

    def forward(
        self, x: torch.Tensor, grid: tuple[int, int, int], tables: list[torch.Tensor]
    ) -> torch.Tensor:
        q = _rope_apply(self._heads(self.norm_q(self.q(x))), grid, tables)
        k = _rope_apply(self._heads(self.norm_k(self.k(x))), grid, tables)
        return self.o(_attention(q, k, self._heads(self.v(x))))


class WanI2VCrossAttentionOriginal(WanSelfAttentionOriginal):
    """Text cross-attention plus a parallel attention over the CLIP image tokens (`k_img`, `v_img`)."""

    def __init__(self, dim: int, num_heads: int, qk_norm: bool = True, eps: float = 1e-6) -> None:
        super().__init__(dim, num_heads, qk_norm, eps)
        self.k_img = nn.Linear(dim, dim)
        self.v_img = nn.Linear(dim, dim)
        self.norm_k_img = WanRMSNormOriginal(dim, eps) if qk_norm else nn.Identity()

    def forward(self, x: torch.Tensor, context: torch.Tensor, num_image_tokens: int) -> torch.Tensor:
        context_img, context_txt = context[:, :num_image_tokens], context[:, num_image_tokens:]
        q = self._heads(self.norm_q(self.q(x)))
        out = _attention(q, self._heads(self.norm_k(self.k(context_txt))), self._heads(self.v(context_txt)))
        out_img = _attention(
            q, self._heads(self.norm_k_img(self.k_img(context_img))), self._heads(self.v_img(context_img))
        )
        return self.o(out + out_img)


class WanAttentionBlockOriginal(nn.Module):
    """One DiT block. The original applies its norms in the order norm1, norm3 (cross-attn), norm2 (FFN)."""

    def __init__(self, dim: int, ffn_dim: int, num_heads: int, cross_attn_norm: bool, eps: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps, elementwise_affine=False)
        self.self_attn = WanSelfAttentionOriginal(dim, num_heads, True, eps)
        self.norm3 = nn.LayerNorm(dim, eps, elementwise_affine=True) if cross_attn_norm else nn.Identity()
        self.cross_attn = WanI2VCrossAttentionOriginal(dim, num_heads, True, eps)
        self.norm2 = nn.LayerNorm(dim, eps, elementwise_affine=False)
        self.ffn = nn.Sequential(
            nn.Linear(dim, ffn_dim), nn.GELU(approximate="tanh"), nn.Linear(ffn_dim, dim)
        )
        self.modulation = nn.Parameter(torch.randn(1, 6, dim) / dim**0.5)

    def forward(
        self,
        x: torch.Tensor,
        e: torch.Tensor,
        context: torch.Tensor,
        num_image_tokens: int,
        grid: tuple[int, int, int],
        tables: list[torch.Tensor],
    ) -> torch.Tensor:
        e = (self.modulation + e).chunk(6, dim=1)
        y = self.self_attn(self.norm1(x).float() * (1 + e[1]) + e[0], grid, tables)
        x = x + y * e[2]
        x = x + self.cross_attn(self.norm3(x), context, num_image_tokens)
        y = self.ffn(self.norm2(x).float() * (1 + e[4]) + e[3])
        return x + y * e[5]


class WanHeadOriginal(nn.Module):
    def __init__(self, dim: int, out_dim: int, patch_size: tuple[int, int, int], eps: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim, eps, elementwise_affine=False)
        self.head = nn.Linear(dim, out_dim * math.prod(patch_size))
        self.modulation = nn.Parameter(torch.randn(1, 2, dim) / dim**0.5)

    def forward(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        e = (self.modulation + e.unsqueeze(1)).chunk(2, dim=1)
        return self.head(self.norm(x) * (1 + e[1]) + e[0])


class WanMLPProjOriginal(nn.Module):
    """CLIP image-token projection (`img_emb.proj.{0,1,3,4}`)."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.proj = nn.Sequential(
            nn.LayerNorm(in_dim),
            nn.Linear(in_dim, in_dim),
            nn.GELU(),
            nn.Linear(in_dim, out_dim),
            nn.LayerNorm(out_dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


def _sinusoidal_embedding(dim: int, position: torch.Tensor) -> torch.Tensor:
    half = dim // 2
    position = position.double()
    angles = torch.outer(position, torch.pow(10000, -torch.arange(half, dtype=torch.float64).div(half)))
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=1)


class WanModelOriginal(nn.Module):
    """The Wan2.1 image-to-video DiT in its released layout (1,303 tensors at full size)."""

    def __init__(
        self,
        in_dim: int = 36,
        dim: int = 5120,
        ffn_dim: int = 13824,
        freq_dim: int = 256,
        text_dim: int = 4096,
        image_dim: int = 1280,
        out_dim: int = 16,
        num_heads: int = 40,
        num_layers: int = 40,
        patch_size: tuple[int, int, int] = (1, 2, 2),
        text_len: int = 512,
        cross_attn_norm: bool = True,
        eps: float = 1e-6,
    ) -> None:
        super().__init__()
        self.dim, self.freq_dim, self.text_len, self.num_heads = dim, freq_dim, text_len, num_heads
        self.patch_size = tuple(patch_size)
        self.patch_embedding = nn.Conv3d(in_dim, dim, kernel_size=patch_size, stride=patch_size)
        self.text_embedding = nn.Sequential(
            nn.Linear(text_dim, dim), nn.GELU(approximate="tanh"), nn.Linear(dim, dim)
        )
        self.time_embedding = nn.Sequential(nn.Linear(freq_dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.time_projection = nn.Sequential(nn.SiLU(), nn.Linear(dim, dim * 6))
        self.blocks = nn.ModuleList(
            WanAttentionBlockOriginal(dim, ffn_dim, num_heads, cross_attn_norm, eps)
            for _ in range(num_layers)
        )
        self.head = WanHeadOriginal(dim, out_dim, self.patch_size, eps)
        self.img_emb = WanMLPProjOriginal(image_dim, dim)

    def forward(
        self, x: torch.Tensor, t: torch.Tensor, context: torch.Tensor, clip_fea: torch.Tensor, y: torch.Tensor
    ) -> torch.Tensor:
        """x (B, 16, F, H, W) noisy latents, y (B, 20, F, H, W) image condition -> (B, 16, F, H, W)."""
        x = self.patch_embedding(torch.cat([x, y], dim=1))
        grid = tuple(x.shape[2:])
        x = x.flatten(2).transpose(1, 2)  # (B, F'*H'*W', dim)
        e = self.time_embedding(_sinusoidal_embedding(self.freq_dim, t).float())
        e0 = self.time_projection(e).unflatten(1, (6, self.dim))
        context = F.pad(context, (0, 0, 0, self.text_len - context.shape[1]))
        context = torch.cat([self.img_emb(clip_fea), self.text_embedding(context)], dim=1)
        tables = _rope_frequencies(self.dim // self.num_heads)
        for block in self.blocks:
            x = block(x, e0, context, clip_fea.shape[1], grid, tables)
        x = self.head(x, e)
        pt, ph, pw = self.patch_size
        f, h, w = grid
        x = x.view(x.shape[0], f, h, w, pt, ph, pw, -1)
        return torch.einsum("bfhwpqrc->bcfphqwr", x).reshape(x.shape[0], -1, f * pt, h * ph, w * pw)


def wan_i2v_14b_dit(**overrides: object) -> WanModelOriginal:
    """Wan2.1-I2V-14B (480P and 720P share the architecture)."""
    return WanModelOriginal(**overrides)


# ----------------------------------------------------------------------------------------------------------
