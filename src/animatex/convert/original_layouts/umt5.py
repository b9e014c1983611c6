"""umT5-XXL encoder (`models_t5_umt5-xxl-enc-bf16.pth`), as `wan/modules/t5.py` lays it out.

Written from the public description of that file; see the package docstring."""

from __future__ import annotations

import math

import torch
from torch import nn


class T5LayerNormOriginal(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.weight * (
            x * torch.rsqrt(x.float().pow(2).mean(dim=-1, keepdim=True) + self.eps)
        ).type_as(x)


class T5AttentionOriginal(nn.Module):
    def __init__(self, dim: int, dim_attn: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.q = nn.Linear(dim, dim_attn, bias=False)
        self.k = nn.Linear(dim, dim_attn, bias=False)
        self.v = nn.Linear(dim, dim_attn, bias=False)
        self.o = nn.Linear(dim_attn, dim, bias=False)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        q, k, v = (proj(x).unflatten(-1, (self.num_heads, -1)) for proj in (self.q, self.k, self.v))
        attn = torch.einsum("binc,bjnc->bnij", q, k) + bias  # T5 does not scale the logits
        x = torch.einsum("bnij,bjnc->binc", attn.float().softmax(dim=-1).type_as(attn), v)
        return self.o(x.flatten(2))


class T5FeedForwardOriginal(nn.Module):
    def __init__(self, dim: int, dim_ffn: int) -> None:
        super().__init__()
        self.gate = nn.Sequential(nn.Linear(dim, dim_ffn, bias=False), nn.GELU(approximate="tanh"))
        self.fc1 = nn.Linear(dim, dim_ffn, bias=False)
        self.fc2 = nn.Linear(dim_ffn, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.fc1(x) * self.gate(x))


class T5RelativeEmbeddingOriginal(nn.Module):
    def __init__(self, num_buckets: int, num_heads: int, max_dist: int = 128) -> None:
        super().__init__()
        self.num_buckets, self.max_dist = num_buckets, max_dist
        self.embedding = nn.Embedding(num_buckets, num_heads)

    def forward(self, length: int) -> torch.Tensor:
        rel = torch.arange(length).unsqueeze(0) - torch.arange(length).unsqueeze(1)
        half = self.num_buckets // 2  # bidirectional
        buckets = (rel > 0).long() * half
        rel = rel.abs()
        exact = half // 2
        large = (
            exact + (torch.log(rel.float() / exact) / math.log(self.max_dist / exact) * (half - exact)).long()
        )
        buckets = buckets + torch.where(rel < exact, rel, large.clamp(max=half - 1))
        return self.embedding(buckets).permute(2, 0, 1).unsqueeze(0)  # (1, heads, L, L)


class T5SelfAttentionBlockOriginal(nn.Module):
    def __init__(self, dim: int, dim_attn: int, dim_ffn: int, num_heads: int, num_buckets: int) -> None:
        super().__init__()
        self.norm1 = T5LayerNormOriginal(dim)
        self.attn = T5AttentionOriginal(dim, dim_attn, num_heads)
        self.norm2 = T5LayerNormOriginal(dim)
        self.ffn = T5FeedForwardOriginal(dim, dim_ffn)
        self.pos_embedding = T5RelativeEmbeddingOriginal(num_buckets, num_heads)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), self.pos_embedding(x.shape[1]))
        return x + self.ffn(self.norm2(x))


class UMT5EncoderOriginal(nn.Module):
    """umT5 encoder in Wan's layout: one relative position table per block (no shared position bias)."""

    def __init__(
        self,
        vocab: int = 256384,
        dim: int = 4096,
        dim_attn: int = 4096,
        dim_ffn: int = 10240,
        num_heads: int = 64,
        num_layers: int = 24,
        num_buckets: int = 32,
    ) -> None:
        super().__init__()
        self.token_embedding = nn.Embedding(vocab, dim)
        self.blocks = nn.ModuleList(
            T5SelfAttentionBlockOriginal(dim, dim_attn, dim_ffn, num_heads, num_buckets)
            for _ in range(num_layers)
        )
        self.norm = T5LayerNormOriginal(dim)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.token_embedding(ids)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)


# ----------------------------------------------------------------------------------------------------------
