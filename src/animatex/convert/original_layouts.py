"""Module definitions that reproduce the PUBLISHED checkpoint layouts, written from their public descriptions.

This is the only file in animatex where official parameter names appear. The classes exist for two reasons:
1. built on the meta device they give the exact key/shape manifest of each released file (no memory, no
   download), so the converters can be checked against every key of the full-size 14B checkpoints;
2. built at tiny size with random weights they produce state dicts "saved in the source layout", and the
   forwards below (DiT, UMT5 encoder, CLIP vision towers) compute what the original code computes, so a
   converted tiny model can be compared numerically with the directly built diffusers/transformers model.

Sources of truth (names and shapes): Wan2.1 `wan/modules/{model,vae,t5,clip,xlm_roberta}.py`, OpenCLIP's
`ViT-H-14` (`open_clip_pytorch_model.bin`), and the Animate-X++ release (`dwpose_embedding`,
`randomref_embedding_pose` in its pipeline, `DwposeEncoder`/`Resampler` in `IPI_module.py`, instantiated with
their defaults as `pose_embedding_before`/`pose_embedding_after`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

# ----------------------------------------------------------------------------------------------------------
# Wan2.1 DiT (`diffusion_pytorch_model-0000N-of-00007.safetensors`)
# ----------------------------------------------------------------------------------------------------------


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
# Wan2.1 VAE (`Wan2.1_VAE.pth`)
# ----------------------------------------------------------------------------------------------------------


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
# umT5-XXL encoder (`models_t5_umt5-xxl-enc-bf16.pth`)
# ----------------------------------------------------------------------------------------------------------


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
# Wan's CLIP (`models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth`): ViT-H/14 visual + XLM-R text tower
# ----------------------------------------------------------------------------------------------------------


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
# OpenCLIP ViT-H-14 (`open_clip_pytorch_model.bin`, the IPI's frozen image encoder)
# ----------------------------------------------------------------------------------------------------------


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
# Animate-X++ pose modules (`animate-x++.ckpt`, `animate-x++_simple.ckpt`)
# ----------------------------------------------------------------------------------------------------------


def dwpose_embedding_original(out_dim: int = 5120, hidden: int = 16) -> nn.Sequential:
    """The explicit pose guider: Conv3d at Sequential indices 0, 2, ..., 12."""
    strides = [(1, 1, 1), (1, 1, 1), (1, 1, 1), (1, 2, 2), (2, 2, 2), (2, 2, 2)]
    layers: list[nn.Module] = []
    in_ch = 3
    for stride in strides:
        layers += [nn.Conv3d(in_ch, hidden, 3, stride=stride, padding=1), nn.SiLU()]
        in_ch = hidden
    layers.append(nn.Conv3d(hidden, out_dim, (1, 2, 2), stride=(1, 2, 2)))
    return nn.Sequential(*layers)


def randomref_embedding_pose_original(out_dim: int = 20, hidden: int = 16) -> nn.Sequential:
    """The reference-pose encoder: Conv2d at Sequential indices 0, 2, ..., 10."""
    layers: list[nn.Module] = []
    in_ch = 3
    for stride in (1, 1, 1, 2, 2):
        layers += [nn.Conv2d(in_ch, hidden, 3, stride=stride, padding=1), nn.SiLU()]
        in_ch = hidden
    layers.append(nn.Conv2d(hidden, out_dim, 3, stride=2, padding=1))
    return nn.Sequential(*layers)


class _DETREncoderLayerOriginal(nn.Module):
    """Post-norm transformer encoder layer as in DETR (`self_attn` is a torch MultiheadAttention)."""

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d_model, nhead)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)


class DwposeEncoderOriginal(nn.Module):
    """IPI keypoint encoder, `pose_embedding_before.*` (the checkpoint may or may not hold `pos_table`)."""

    def __init__(
        self,
        d_model: int = 1024,
        nhead: int = 8,
        num_layers: int = 3,
        dim_feedforward: int = 1024,
        pos_len: int = 330,
        input_dim: int = 36,
    ) -> None:
        super().__init__()
        self.encoder = nn.Module()
        self.encoder.layers = nn.ModuleList(
            _DETREncoderLayerOriginal(d_model, nhead, dim_feedforward) for _ in range(num_layers)
        )
        self.pos_embed = nn.Module()
        self.pos_embed.register_buffer("pos_table", torch.zeros(1, pos_len, d_model))
        self.increase_embed_dim = nn.Sequential(
            nn.Linear(input_dim, d_model // 2), nn.Linear(d_model // 2, d_model)
        )
        self.pre_image_condition_p = nn.Sequential(
            nn.Linear(d_model, d_model), nn.SiLU(), nn.Linear(d_model, d_model)
        )


class _PerceiverAttentionOriginal(nn.Module):
    def __init__(self, dim: int, dim_head: int, heads: int) -> None:
        super().__init__()
        inner = dim_head * heads
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(dim, inner * 2, bias=False)
        self.to_out = nn.Linear(inner, dim, bias=False)


class ResamplerOriginal(nn.Module):
    """IPI resampler, `pose_embedding_after.*`; `proj_conv` maps the 81 driving frames to 21 latent frames."""

    def __init__(
        self,
        dim: int = 1024,
        depth: int = 8,
        dim_head: int = 64,
        heads: int = 16,
        embedding_dim: int = 1024,
        output_dim: int = 1024,
        ff_mult: int = 4,
        model_dim: int = 5120,
        num_frames: int = 81,
        num_latent_frames: int = 21,
    ) -> None:
        super().__init__()
        self.latents = nn.Parameter(torch.randn(1, 1, dim) / dim**0.5)
        self.proj_in = nn.Linear(embedding_dim, dim)
        self.proj_out = nn.Linear(dim, output_dim)
        self.norm_out = nn.LayerNorm(output_dim)
        self.proj_out2 = nn.Linear(output_dim, model_dim)
        self.proj_conv = nn.Conv1d(num_frames, num_latent_frames, kernel_size=3, padding=1)
        inner = dim * ff_mult
        self.layers = nn.ModuleList(
            nn.ModuleList(
                [
                    _PerceiverAttentionOriginal(dim, dim_head, heads),
                    nn.Sequential(
                        nn.LayerNorm(dim),
                        nn.Linear(dim, inner, bias=False),
                        nn.GELU(),
                        nn.Linear(inner, dim, bias=False),
                    ),
                ]
            )
            for _ in range(depth)
        )


class AnimateXPoseModulesOriginal(nn.Module):
    """The pose modules of an official checkpoint, under their checkpoint names."""

    def __init__(
        self,
        simple: bool = False,
        model_dim: int = 5120,
        before: dict | None = None,
        after: dict | None = None,
    ) -> None:
        super().__init__()
        self.dwpose_embedding = dwpose_embedding_original(model_dim)
        self.randomref_embedding_pose = randomref_embedding_pose_original()
        if not simple:
            self.pose_embedding_before = DwposeEncoderOriginal(**(before or {}))
            self.pose_embedding_after = ResamplerOriginal(model_dim=model_dim, **(after or {}))


# The parent code's LoRA targets: 10 linear layers per DiT block (not k_img / v_img).
OFFICIAL_LORA_TARGETS: tuple[str, ...] = (
    "self_attn.q",
    "self_attn.k",
    "self_attn.v",
    "self_attn.o",
    "cross_attn.q",
    "cross_attn.k",
    "cross_attn.v",
    "cross_attn.o",
    "ffn.0",
    "ffn.2",
)
OFFICIAL_LORA_PREFIX = "pipe.dit."
OFFICIAL_POSE_MODULES: tuple[str, ...] = (
    "dwpose_embedding",
    "randomref_embedding_pose",
    "pose_embedding_before",
    "pose_embedding_after",
)
