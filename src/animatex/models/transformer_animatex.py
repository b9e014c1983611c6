"""Animate-X++ transformer: the Wan2.1 DiT plus the explicit and implicit pose conditions, in this one file.

Order: helpers -> `PoseGuider` -> `RefPoseEncoder` -> `ImplicitPoseIndicator` (keypoint encoder, Perceiver
resampler) -> `AnimateXTransformer3DModel`. Facts come from the papers (Animate-X, arXiv 2410.10306;
Animate-X++, arXiv 2508.09454) and the official release (github.com/Lucaria-Academy/Animate-X-plusplus); the
Wan part is diffusers' `WanTransformer3DModel` unchanged.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from diffusers.configuration_utils import register_to_config
from diffusers.hooks import HookRegistry, ModelHook
from diffusers.models._modeling_parallel import ContextParallelInput
from diffusers.models.attention_dispatch import (
    AttentionBackendName,
    _AttentionBackendRegistry,
    dispatch_attention_fn,
)
from diffusers.models.modeling_outputs import Transformer2DModelOutput
from diffusers.models.transformers.transformer_wan import (
    WanAttnProcessor,
    WanTransformer3DModel,
    _get_added_kv_projections,
    _get_qkv_projections,
)
from diffusers.utils import BaseOutput, apply_lora_scale, logging

logger = logging.get_logger(__name__)  # the diffusers logger, so users see our warnings next to its own

# Wan VAE compression: 4x in time (4k+1 frames -> k+1 latent frames), 8x in space. A VAE with one spatial
# downsampling fewer (4x, the demo model's) is supported through the `vae_scale_factor_spatial` config.
VAE_SCALE_FACTOR_TEMPORAL = 4
VAE_SCALE_FACTOR_SPATIAL = 8
SUPPORTED_SPATIAL_FACTORS = (4, 8)
POSE_MODULES = ("pose_guider", "ref_pose_encoder", "pose_indicator")
# diffusers' Wan attention splits the image tokens from the text by assuming exactly 512 text tokens
# ("hardcoded for now" in transformer_wan.py), so text embeddings are always padded to this length.
TEXT_SEQUENCE_LENGTH = 512
# diffusers' attention backends that take the text-padding mask: PyTorch's SDPA in its forms. The others (flash,
# sage, xla, ...) refuse a mask; `TextPaddingMaskedAttnProcessor` attends with them per prompt length instead.
BACKENDS_TAKING_A_MASK = frozenset({"native", "_native_math", "_native_efficient", "_native_cudnn"})


# ---------------------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------------------


def num_latent_frames(num_frames: int) -> int:
    """Latent frame count the Wan VAE gives for `num_frames` = 4k+1 pixel frames."""
    return (num_frames - 1) // VAE_SCALE_FACTOR_TEMPORAL + 1


def pad_first_frame(frames: torch.Tensor, dim: int) -> torch.Tensor:
    """Repeat the first frame 3 more times along `dim`: 4k+1 frames -> 4k+4, i.e. k+1 groups of 4."""
    first = frames.narrow(dim, 0, 1)
    repeats = [1] * frames.ndim
    repeats[dim] = VAE_SCALE_FACTOR_TEMPORAL - 1
    return torch.cat([first.repeat(*repeats), frames], dim=dim)


def sinusoidal_frame_encoding(
    num_frames: int, dim: int, device: torch.device | None = None, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Transformer sine/cosine position encoding (num_frames, dim), computed for any length."""
    position = torch.arange(num_frames, device=device, dtype=torch.float64)[:, None]  # (F, 1)
    div_term = torch.exp(
        torch.arange(0, dim, 2, device=device, dtype=torch.float64) * (-math.log(10000.0) / dim)
    )
    encoding = torch.zeros(num_frames, dim, device=device, dtype=torch.float64)
    encoding[:, 0::2] = torch.sin(position * div_term)
    encoding[:, 1::2] = torch.cos(position * div_term)
    return encoding.to(dtype)


def _reset_parameters(module: nn.Module) -> None:
    """PyTorch's default initialisation for every layer inside `module`."""
    for layer in module.modules():
        if isinstance(layer, nn.MultiheadAttention):
            layer._reset_parameters()
        elif layer is not module and hasattr(layer, "reset_parameters"):
            layer.reset_parameters()


# ---------------------------------------------------------------------------------------------------------
# Explicit pose path
# ---------------------------------------------------------------------------------------------------------


class TextPaddingMaskedAttnProcessor(WanAttnProcessor):
    """Wan's attention processor with the text padding masked out of the text cross-attention.

    Wan pads every prompt to 512 tokens with zeros and attends to all of them: the ~490 identical padding keys
    dilute the few real ones (a small model trained briefly gives them 5-20 % of the attention). The mask
    travels with the data, not as state: the transformer zeroes the embedded padding rows (`zero_text_padding`),
    so a text row that is all zeros is padding. The cross-attention context is [image tokens, 512 text tokens]
    as in Wan; the text is cut to the batch's longest prompt before its projections and its padding masked.
    """

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, rotary_emb=None):
        if encoder_hidden_states is None:  # self-attention
            return super().__call__(attn, hidden_states, encoder_hidden_states, attention_mask, rotary_emb)
        split = encoder_hidden_states.shape[1] - TEXT_SEQUENCE_LENGTH
        if split < 0:
            raise ValueError(
                f"the text cross-attention expects {TEXT_SEQUENCE_LENGTH} text tokens after the image tokens, "
                f"got a context of {encoder_hidden_states.shape[1]} tokens"
            )
        image, text = encoder_hidden_states[:, :split], encoder_hidden_states[:, split:]
        text, text_mask = trim_text_padding(text, text_padding_mask(text))

        query, key, value = _get_qkv_projections(attn, hidden_states, text)
        query = attn.norm_q(query).unflatten(2, (attn.heads, -1))
        key = attn.norm_k(key).unflatten(2, (attn.heads, -1))
        value = value.unflatten(2, (attn.heads, -1))
        out = self._attend(query, key, value, text_mask)
        if attn.add_k_proj is not None and image.shape[1] > 0:
            key_image, value_image = _get_added_kv_projections(attn, image)
            key_image = attn.norm_added_k(key_image).unflatten(2, (attn.heads, -1))
            out = out + self._attend(query, key_image, value_image.unflatten(2, (attn.heads, -1)), None)
        return attn.to_out[1](attn.to_out[0](out))

    def _attend(self, query, key, value, mask):
        backend = self._attention_backend or _AttentionBackendRegistry.get_active_backend()[0]
        if mask is not None and AttentionBackendName(backend).value not in BACKENDS_TAKING_A_MASK:
            out = self._attend_per_length(query, key, value, mask[:, 0, 0], backend)
        else:
            out = dispatch_attention_fn(
                query, key, value, attn_mask=mask, dropout_p=0.0, is_causal=False, backend=backend
            )
        return out.flatten(2, 3).type_as(query)

    @staticmethod
    @torch.compiler.disable  # groups rows by lengths read from the data: run eagerly under torch.compile
    def _attend_per_length(query, key, value, keep, backend):
        """Masked attention for a backend that takes no mask (flash, sage, ...): the rows whose prompts keep
        the same number of tokens attend together, to those tokens only. Exactly the masked result: a masked
        key gets zero weight, an absent one too."""
        if bool(keep.all()):
            return dispatch_attention_fn(query, key, value, backend=backend)
        counts = keep.sum(dim=1)
        out = query.new_empty((*query.shape[:-1], value.shape[-1]))
        for count in counts.unique().tolist():
            rows = (counts == count).nonzero().flatten()
            row_keep = keep[rows]
            out[rows] = dispatch_attention_fn(
                query[rows],
                key[rows][row_keep].unflatten(0, (len(rows), count)),
                value[rows][row_keep].unflatten(0, (len(rows), count)),
                backend=backend,
            ).to(out.dtype)
        return out


def text_padding_mask(encoder_hidden_states: torch.Tensor) -> torch.Tensor:
    """(B, S, D) text embeddings -> (B, 1, 1, S) bool, False for padding: the all-zero rows the pipeline writes
    past each prompt's last token. The first token always counts, so an all-zero prompt still attends."""
    keep = encoder_hidden_states.abs().amax(dim=-1) > 0
    keep[:, 0] = True
    return keep[:, None, None, :]


def zero_text_padding(embedded: torch.Tensor, text_mask: torch.Tensor) -> torch.Tensor:
    """Zero the embedded text rows that `text_mask` (B, 1, 1, S) marks as padding, so the mask travels with the
    text through the blocks (the text embedder maps a zero row to a constant non-zero one)."""
    return embedded * text_mask[:, 0, 0, :, None].to(embedded.dtype)


def trim_text_padding(
    encoder_hidden_states: torch.Tensor, text_mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Drop the text tokens past the batch's longest prompt: keys masked in every row change nothing but the
    cost (the demo model's captions are ~20 of 512 tokens; its text cross-attention was most of a step's
    attention time)."""
    length = _longest_prompt_length(text_mask)
    return encoder_hidden_states[:, :length], text_mask[..., :length]


@torch.compiler.disable  # a length read from the data: torch.compile runs it eagerly instead of breaking its graph
def _longest_prompt_length(text_mask: torch.Tensor) -> int:
    return int(text_mask.flatten(1).any(0).nonzero().max()) + 1


class ChannelsLastConv3d(nn.Conv3d):
    """Conv3d computed in channels-last layout: 1.7x faster on a 2-core CPU, in fp32 and under bf16 (oneDNN),
    for the pose guider's full-resolution convs, its hot spot in training (benchmarks/bench_pose_guider.py,
    docs/benchmarks.md). Parameters, gradients and state-dict keys stay those of `nn.Conv3d`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        layout = torch.channels_last_3d
        return self._conv_forward(
            x.contiguous(memory_format=layout), self.weight.contiguous(memory_format=layout), self.bias
        )


class PoseGuider(nn.Module):
    """Rendered driving-pose video -> one feature per DiT token (Conv3d stack, the official release's `dwpose_embedding`).

    Six stride-1/2 convolutions reach the VAE latent grid (4x time, 8x space); the last convolution is a
    second patch embedding whose kernel and stride equal the DiT `patch_size`. For a 4x-spatial VAE the first
    downsampling convolution keeps stride 1: the same weights, one halving fewer.
    """

    def __init__(
        self,
        out_channels: int,
        hidden_channels: int = 16,
        patch_size: tuple[int, int, int] = (1, 2, 2),
        spatial_factor: int = VAE_SCALE_FACTOR_SPATIAL,
    ):
        super().__init__()
        c = hidden_channels
        first_down = (1, 2, 2) if spatial_factor == 8 else 1
        self.convs = nn.Sequential(
            ChannelsLastConv3d(3, c, kernel_size=3, stride=1, padding=1),
            nn.SiLU(),
            ChannelsLastConv3d(c, c, kernel_size=3, stride=1, padding=1),
            nn.SiLU(),
            ChannelsLastConv3d(c, c, kernel_size=3, stride=1, padding=1),
            nn.SiLU(),
            ChannelsLastConv3d(c, c, kernel_size=3, stride=first_down, padding=1),
            nn.SiLU(),
            ChannelsLastConv3d(c, c, kernel_size=3, stride=2, padding=1),
            nn.SiLU(),
            ChannelsLastConv3d(c, c, kernel_size=3, stride=2, padding=1),
            nn.SiLU(),
            nn.Conv3d(c, out_channels, kernel_size=tuple(patch_size), stride=tuple(patch_size)),
        )

    def initialize_weights(self) -> None:
        _reset_parameters(self)

    def forward(self, pose_video: torch.Tensor) -> torch.Tensor:
        """(B, 3, 4k+1, H, W) in [0, 1] -> (B, out_channels, (k+1) / p_t, H / s / p_h, W / s / p_w), s = 8 or 4."""
        pose_video = pad_first_frame(pose_video, dim=2)  # (B, 3, 4k+4, H, W)
        return self.convs(pose_video)


class RefPoseEncoder(nn.Module):
    """Pose image of the reference character -> features added to the image-condition channels `y`.

    Six convs (three at stride 1, three at stride 2), as the official `randomref_embedding_pose`; for a
    4x-spatial VAE the first of the stride-2 convs keeps stride 1.
    """

    def __init__(
        self, out_channels: int, hidden_channels: int = 16, spatial_factor: int = VAE_SCALE_FACTOR_SPATIAL
    ):
        super().__init__()
        c = hidden_channels
        first_down = 2 if spatial_factor == 8 else 1
        self.convs = nn.Sequential(
            nn.Conv2d(3, c, kernel_size=3, stride=1, padding=1),
            nn.SiLU(),
            nn.Conv2d(c, c, kernel_size=3, stride=1, padding=1),
            nn.SiLU(),
            nn.Conv2d(c, c, kernel_size=3, stride=1, padding=1),
            nn.SiLU(),
            nn.Conv2d(c, c, kernel_size=3, stride=first_down, padding=1),
            nn.SiLU(),
            nn.Conv2d(c, c, kernel_size=3, stride=2, padding=1),
            nn.SiLU(),
            nn.Conv2d(c, out_channels, kernel_size=3, stride=2, padding=1),
        )

    def initialize_weights(self) -> None:
        _reset_parameters(self)

    def forward(self, ref_pose: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] -> (B, out_channels, H / s, W / s), s = 8 or 4."""
        return self.convs(ref_pose)


# ---------------------------------------------------------------------------------------------------------
# Implicit Pose Indicator
# ---------------------------------------------------------------------------------------------------------


# How the keypoint encoder reads its input (config `keypoint_encoder_layout`):
# "official": the release's layout: each frame's keypoints flattened as x_0..x_{K-1} then y_0..y_{K-1}, and the
#     frame position encoding added once to the embedded input; the layers run plain self-attention.
# "legacy": animatex before it matched the release (models saved without the field, e.g. the demo model):
#     (x, y) pairs interleaved, and the encoding added to the queries and keys of every layer (DETR style).
KEYPOINT_ENCODER_LAYOUTS = ("official", "legacy")


class KeypointEncoderLayer(nn.Module):
    """Post-norm transformer encoder layer; a given frame encoding is added to queries and keys only."""

    def __init__(self, dim: int, num_heads: int, ffn_dim: int, dropout: float = 0.1):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(dim, num_heads, dropout=dropout, batch_first=True)
        self.linear1 = nn.Linear(dim, ffn_dim)
        self.linear2 = nn.Linear(ffn_dim, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)

    def forward(
        self, hidden_states: torch.Tensor, frame_encoding: torch.Tensor | None = None
    ) -> torch.Tensor:
        query = key = hidden_states if frame_encoding is None else hidden_states + frame_encoding
        attn_output = self.self_attn(query, key, hidden_states, need_weights=False)[0]
        hidden_states = self.norm1(hidden_states + self.dropout1(attn_output))
        ff_output = self.linear2(self.dropout(F.relu(self.linear1(hidden_states))))
        return self.norm2(hidden_states + self.dropout2(ff_output))


class KeypointEncoder(nn.Module):
    """Per-frame body keypoints -> one query token per frame (the IPI query, Animate-X, arXiv 2410.10306, and the official release's IPI module)."""

    def __init__(
        self,
        num_keypoints: int = 18,
        dim: int = 1024,
        num_layers: int = 3,
        num_heads: int = 8,
        ffn_dim: int = 1024,
        dropout: float = 0.1,
        layout: str = "official",
    ):
        super().__init__()
        if layout not in KEYPOINT_ENCODER_LAYOUTS:
            raise ValueError(
                f"keypoint_encoder_layout must be one of {KEYPOINT_ENCODER_LAYOUTS}, got {layout!r}"
            )
        self.num_keypoints = num_keypoints
        self.layout = layout
        self.keypoint_embed = nn.Sequential(nn.Linear(num_keypoints * 2, dim // 2), nn.Linear(dim // 2, dim))
        self.layers = nn.ModuleList(
            [KeypointEncoderLayer(dim, num_heads, ffn_dim, dropout) for _ in range(num_layers)]
        )
        self.proj_out = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def initialize_weights(self) -> None:
        _reset_parameters(self)
        for name, param in self.layers.named_parameters():
            if param.dim() > 1 and "norm" not in name:
                nn.init.xavier_uniform_(param)
        # The query starts as the bare learnable latent: keypoints enter through a zero-initialised output.
        nn.init.zeros_(self.proj_out[-1].weight)
        nn.init.zeros_(self.proj_out[-1].bias)

    def forward(self, pose_keypoints: torch.Tensor) -> torch.Tensor:
        """(B, F, K, 2) in [0, 1], -1 = invisible -> (B, F, dim)."""
        batch_size, num_frames = pose_keypoints.shape[:2]
        if self.layout == "official":
            pose_keypoints = pose_keypoints.transpose(2, 3)  # (B, F, 2, K): all x, then all y
        hidden_states = pose_keypoints.reshape(batch_size, num_frames, self.num_keypoints * 2)  # (B, F, 2K)
        hidden_states = self.keypoint_embed(hidden_states)  # (B, F, dim)
        frame_encoding = sinusoidal_frame_encoding(
            num_frames, hidden_states.shape[-1], hidden_states.device, hidden_states.dtype
        )[None]  # (1, F, dim)
        if self.layout == "official":
            hidden_states = hidden_states + frame_encoding
            frame_encoding = None
        for layer in self.layers:
            hidden_states = layer(hidden_states, frame_encoding)
        return self.proj_out(hidden_states)


class PerceiverAttention(nn.Module):
    """Latents attend to concat(context, latents), as in the Flamingo/IP-Adapter Perceiver resampler."""

    def __init__(self, dim: int, num_heads: int, head_dim: int):
        super().__init__()
        self.num_heads = num_heads
        inner_dim = num_heads * head_dim
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, inner_dim, bias=False)
        self.to_kv = nn.Linear(dim, inner_dim * 2, bias=False)
        self.to_out = nn.Linear(inner_dim, dim, bias=False)

    def forward(self, context: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
        """context (N, Lc, dim), latents (N, Lq, dim) -> (N, Lq, dim)."""
        context = self.norm1(context)
        latents = self.norm2(latents)
        query = self.to_q(latents)
        key, value = self.to_kv(torch.cat([context, latents], dim=1)).chunk(2, dim=-1)
        query, key, value = (
            t.unflatten(-1, (self.num_heads, -1)).transpose(1, 2) for t in (query, key, value)
        )
        # (N, heads, L, head_dim)
        attn_output = F.scaled_dot_product_attention(query, key, value)
        attn_output = attn_output.transpose(1, 2).flatten(2)  # (N, Lq, inner_dim)
        return self.to_out(attn_output)


class PerceiverResampler(nn.Module):
    """Per-frame resampler: query tokens gather the frame's motion token (image-encoder feature)."""

    def __init__(
        self,
        dim: int = 1024,
        num_layers: int = 8,
        num_heads: int = 16,
        head_dim: int = 64,
        embedding_dim: int = 1024,
        ff_mult: int = 4,
    ):
        super().__init__()
        self.latents = nn.Parameter(torch.randn(1, 1, dim) / dim**0.5)
        self.proj_in = nn.Linear(embedding_dim, dim)
        self.layers = nn.ModuleList(
            [
                nn.ModuleList(
                    [
                        PerceiverAttention(dim, num_heads, head_dim),
                        nn.Sequential(
                            nn.LayerNorm(dim),
                            nn.Linear(dim, dim * ff_mult, bias=False),
                            nn.GELU(),
                            nn.Linear(dim * ff_mult, dim, bias=False),
                        ),
                    ]
                )
                for _ in range(num_layers)
            ]
        )
        self.proj_out = nn.Linear(dim, dim)
        self.norm_out = nn.LayerNorm(dim)

    def initialize_weights(self) -> None:
        _reset_parameters(self)
        with torch.no_grad():
            self.latents.normal_(0.0, self.latents.shape[-1] ** -0.5)

    def forward(self, motion_embeds: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
        """motion_embeds (N, Lc, embedding_dim), query (N, Lq, dim) -> (N, Lq, dim)."""
        latents = self.latents + query
        context = self.proj_in(motion_embeds)
        for attn, ff in self.layers:
            latents = attn(context, latents) + latents
            latents = ff(latents) + latents
        return self.norm_out(self.proj_out(latents))


class ImplicitPoseIndicator(nn.Module):
    """IPI: motion token + keypoint query per frame -> one residual vector per latent frame (section 4).

    Two temporal compressions of the per-frame tokens to latent frames:
    - fixed length (`fixed_frames`, 81 in the release): the release's Conv1d, whose input channels are the
      81 frames and whose length axis is the feature axis (kernel 3, padding 1), giving 21 latent frames. It
      runs when the IPI sees exactly `fixed_frames` frames, and only in models built with it (converted full
      checkpoints);
    - any length (ours): the first frame repeated 3 times (as for the VAE) and a stride-4 Conv1d over time,
      4k+4 frames -> k+1, for every other length. It starts as a mean over each group of 4 frames.
    `temporal_compression(num_frames)` names the one a call runs (logged at info level when it runs).
    """

    def __init__(
        self,
        out_dim: int,
        motion_embed_dim: int = 1024,
        dim: int = 1024,
        num_layers: int = 8,
        num_heads: int = 16,
        head_dim: int = 64,
        keypoint_encoder_layers: int = 3,
        keypoint_encoder_heads: int = 8,
        keypoint_encoder_ffn_dim: int = 1024,
        keypoint_encoder_dropout: float = 0.1,
        num_keypoints: int = 18,
        keypoint_encoder_layout: str = "official",
        fixed_frames: int | None = None,
    ):
        super().__init__()
        self.keypoint_encoder = KeypointEncoder(
            num_keypoints,
            dim,
            keypoint_encoder_layers,
            keypoint_encoder_heads,
            keypoint_encoder_ffn_dim,
            keypoint_encoder_dropout,
            keypoint_encoder_layout,
        )
        self.resampler = PerceiverResampler(
            dim, num_layers, num_heads, head_dim, embedding_dim=motion_embed_dim
        )
        self.temporal_downsample = nn.Conv1d(
            dim, dim, kernel_size=VAE_SCALE_FACTOR_TEMPORAL, stride=VAE_SCALE_FACTOR_TEMPORAL
        )
        self.fixed_frames = fixed_frames
        self.fixed_length_downsample = None
        if fixed_frames is not None:
            if fixed_frames < 1 or (fixed_frames - 1) % VAE_SCALE_FACTOR_TEMPORAL:
                raise ValueError(f"pose_indicator_fixed_frames must be 4k+1 (e.g. 81), got {fixed_frames}")
            self.fixed_length_downsample = nn.Conv1d(
                fixed_frames, num_latent_frames(fixed_frames), kernel_size=3, padding=1
            )
        self.proj_out = nn.Linear(dim, out_dim)

    def initialize_weights(self) -> None:
        """Default init, mean-pool temporal reductions, and a zero output layer so the DiT starts unchanged."""
        self.keypoint_encoder.initialize_weights()
        self.resampler.initialize_weights()
        with torch.no_grad():
            weight = self.temporal_downsample.weight  # (dim, dim, 4)
            weight.zero_()
            eye = torch.eye(weight.shape[0], dtype=weight.dtype, device=weight.device)
            weight.add_(eye[:, :, None] / weight.shape[-1])
            self.temporal_downsample.bias.zero_()
            if self.fixed_length_downsample is not None:
                # The same group means through the centre tap: latent frame 0 is frame 0, latent frame j
                # the mean of frames 4j-3..4j.
                weight = self.fixed_length_downsample.weight  # (k+1, 4k+1, 3)
                weight.zero_()
                weight[0, 0, 1] = 1.0
                group = VAE_SCALE_FACTOR_TEMPORAL
                for latent in range(1, weight.shape[0]):
                    weight[latent, group * (latent - 1) + 1 : group * latent + 1, 1] = 1.0 / group
                self.fixed_length_downsample.bias.zero_()
        nn.init.zeros_(self.proj_out.weight)
        nn.init.zeros_(self.proj_out.bias)

    def _runs_fixed_length(self, num_frames: int) -> bool:
        return self.fixed_length_downsample is not None and num_frames == self.fixed_frames

    def temporal_compression(self, num_frames: int) -> str:
        """Which compression a call with `num_frames` driving frames runs, in words."""
        if self._runs_fixed_length(num_frames):
            return f"the official {num_frames}-frame Conv1d ({num_frames} -> {num_latent_frames(num_frames)})"
        return f"the any-length stride-4 Conv1d ({num_frames} -> {num_latent_frames(num_frames)})"

    def forward(self, motion_embeds: torch.Tensor, pose_keypoints: torch.Tensor) -> torch.Tensor:
        """motion_embeds (B, 4k+1, D), pose_keypoints (B, 4k+1, K, 2) -> (B, k+1, out_dim)."""
        batch_size, num_frames = motion_embeds.shape[:2]
        query = self.keypoint_encoder(pose_keypoints)  # (B, F, dim)
        query = query.flatten(0, 1)[:, None]  # (B*F, 1, dim)
        motion_embeds = motion_embeds.flatten(0, 1)[:, None]  # (B*F, 1, D)
        hidden_states = self.resampler(motion_embeds, query)  # (B*F, 1, dim)
        hidden_states = hidden_states.reshape(batch_size, num_frames, -1)  # (B, F, dim)
        logger.info(f"Implicit Pose Indicator: {self.temporal_compression(num_frames)}")
        if self._runs_fixed_length(num_frames):
            # Frames are the conv's channels and the feature axis its length, as in the release.
            hidden_states = self.fixed_length_downsample(hidden_states)  # (B, k+1, dim)
        else:
            hidden_states = pad_first_frame(hidden_states, dim=1)  # (B, 4k+4, dim)
            hidden_states = self.temporal_downsample(hidden_states.transpose(1, 2))  # (B, dim, k+1)
            hidden_states = hidden_states.transpose(1, 2)  # (B, k+1, dim)
        return self.proj_out(hidden_states)  # (B, k+1, out_dim)


@dataclass
class AnimateXPoseFeatures(BaseOutput):
    """What the pose modules give the DiT, computed once per video by `encode_pose_conditions`.

    Args:
        pose_states (`torch.Tensor` of shape `(B, inner_dim, f, h', w')`, *optional*): pose-guider features, one
            per token of the patched latent grid, added to the tokens after patch embedding.
        ref_pose_embeds (`torch.Tensor` of shape `(B, C_y, h, w)`, *optional*): reference-pose features added to
            the image-condition channels `y` of every latent frame.
        pose_indicator_states (`torch.Tensor` of shape `(B, f, inner_dim)`, *optional*): the Implicit Pose
            Indicator's vector per latent frame, added to the input of its blocks.
    """

    pose_states: torch.Tensor | None = None
    ref_pose_embeds: torch.Tensor | None = None
    pose_indicator_states: torch.Tensor | None = None

    @classmethod
    def cat(cls, features: list[AnimateXPoseFeatures]) -> AnimateXPoseFeatures:
        """The features of several calls as one batch, in order. A field one of them lacks (None, e.g. the
        negative CFG branch's `pose_states`) is zeros in its rows: every feature is added to the DiT's input,
        so zeros give exactly what the absent condition gives."""
        batched = {}
        for name in ("pose_states", "ref_pose_embeds", "pose_indicator_states"):
            values = [getattr(feature, name) for feature in features]
            given = next((value for value in values if value is not None), None)
            if given is not None:
                batched[name] = torch.cat([given.new_zeros(given.shape) if v is None else v for v in values])
        return cls(**batched)

    def to(self, *args, **kwargs) -> AnimateXPoseFeatures:
        """Every feature moved or cast as by `torch.Tensor.to`: accelerate's `send_to_device` (offloading hooks)
        calls this instead of rebuilding the object as a plain mapping, which would lose the fields."""
        return replace(self, **{name: value.to(*args, **kwargs) for name, value in self.items()})


# ---------------------------------------------------------------------------------------------------------
# Core model
# ---------------------------------------------------------------------------------------------------------

POSE_INDICATOR_HOOK = "animatex_pose_indicator"


class PoseIndicatorHook(ModelHook):
    """Adds a block's `pose_indicator_states` argument (B, L, inner) to its input hidden states.

    Registered on the IPI blocks when the model is built, so it is the innermost hook: a cache hook registered
    later (diffusers' `enable_cache`) that skips the block skips the addition with it, and offloading, casting
    and context-parallel hooks see the argument like any other block input.
    """

    def pre_forward(self, module: nn.Module, *args, **kwargs):
        states = kwargs.pop("pose_indicator_states", None)
        if states is not None:
            if args:
                args = (args[0] + states, *args[1:])
            else:
                kwargs["hidden_states"] = kwargs["hidden_states"] + states
        return args, kwargs


class AnimateXTransformer3DModel(WanTransformer3DModel):
    r"""
    Wan2.1 DiT with the Animate-X++ pose conditions. The Wan config fields and state-dict keys are exactly
    those of [`WanTransformer3DModel`], so a plain Wan2.1 transformer folder loads with `from_pretrained`; the
    pose modules it lacks are initialised (zero-init outputs) and listed in a warning. The defaults are the
    Wan2.1-I2V-14B sizes (Wan's own defaults are its T2V-14B sizes); see `ANIMATEX_PRESETS` for others.

    Args (beyond `WanTransformer3DModel`):
        use_pose_guider (`bool`): build `pose_guider` (driving-pose video added to the tokens after patching).
        use_ref_pose_encoder (`bool`): build `ref_pose_encoder` (reference pose added to the condition `y`).
        use_pose_indicator (`bool`): build `pose_indicator` (the Implicit Pose Indicator).
        pose_guider_channels (`int`): hidden width of the pose guider and reference-pose encoder convs.
        motion_embed_dim (`int`): width D of the per-frame image-encoder features (`motion_embeds`).
        pose_indicator_dim (`int`): IPI width (keypoint encoder and resampler).
        pose_indicator_layers / pose_indicator_heads / pose_indicator_head_dim (`int`): resampler depth/heads.
        keypoint_encoder_layers / keypoint_encoder_heads / keypoint_encoder_ffn_dim (`int`): keypoint encoder.
        pose_indicator_blocks (`tuple[int, int]`, *optional*): inclusive range of blocks whose input receives
            the IPI. None = the release's rule, blocks 2..num_layers // 2: empty below 4 blocks (the IPI then
            feeds no block; a warning says so), so small models name their range.
        keypoint_encoder_dropout (`float`): dropout inside the keypoint encoder (0.1 as in the official code).
        num_keypoints (`int`): body keypoints per frame in `pose_keypoints` (18, OpenPose order).
        keypoint_encoder_layout (`str`): "official" (the release: keypoints read as all x then all y, the frame
            encoding added once to the input) or "legacy" (animatex's earlier layout: (x, y) pairs, the
            encoding added to queries and keys in every layer). A saved config without the field loads as
            "legacy" (`extract_init_dict`), so older models compute what they were trained to.
        pose_indicator_fixed_frames (`int`, *optional*): build the release's fixed-length temporal Conv1d for
            this many driving frames (81 in converted full checkpoints); the IPI runs it whenever it sees exactly
            that many frames and the any-length compression otherwise. None: any-length only.
        vae_scale_factor_spatial (`int`): spatial compression of the VAE the pose modules are built for: 8
            (Wan2.1) or 4 (one downsampling fewer, the demo model's); the state-dict layout is the same.
        mask_text_padding (`bool`): keep the zero padding of the text embeddings out of the text
            cross-attention (`TextPaddingMaskedAttnProcessor`). False (Wan2.1's behaviour) for Wan weights, which
            were trained attending to it; for small models trained from scratch.
    """

    _skip_layerwise_casting_patterns = [
        *WanTransformer3DModel._skip_layerwise_casting_patterns,
        *POSE_MODULES,
    ]
    # A converted official checkpoint may still carry the fixed 330-frame sinusoid table; we compute it instead.
    _keys_to_ignore_on_load_unexpected = [
        *WanTransformer3DModel._keys_to_ignore_on_load_unexpected,
        "pos_table",
    ]
    # Context parallelism: Wan's plan (tokens and rotary embedding split along the sequence before block 0,
    # gathered after `proj_out`) plus, per IPI block, its per-token `pose_indicator_states` split the same way;
    # built per model in `__init__` because the IPI blocks are a config field. The pose-guider features and
    # reference-pose embeddings are added before block 0, so they are split with the tokens.
    _cp_plan = WanTransformer3DModel._cp_plan

    @register_to_config
    def __init__(
        self,
        patch_size: tuple[int, ...] = (1, 2, 2),
        num_attention_heads: int = 40,
        attention_head_dim: int = 128,
        in_channels: int = 36,
        out_channels: int = 16,
        text_dim: int = 4096,
        freq_dim: int = 256,
        ffn_dim: int = 13824,
        num_layers: int = 40,
        cross_attn_norm: bool = True,
        qk_norm: str | None = "rms_norm_across_heads",
        eps: float = 1e-6,
        image_dim: int | None = 1280,
        added_kv_proj_dim: int | None = 5120,
        rope_max_seq_len: int = 1024,
        pos_embed_seq_len: int | None = None,
        use_pose_guider: bool = True,
        use_ref_pose_encoder: bool = True,
        use_pose_indicator: bool = True,
        pose_guider_channels: int = 16,
        motion_embed_dim: int = 1024,
        pose_indicator_dim: int = 1024,
        pose_indicator_layers: int = 8,
        pose_indicator_heads: int = 16,
        pose_indicator_head_dim: int = 64,
        keypoint_encoder_layers: int = 3,
        keypoint_encoder_heads: int = 8,
        keypoint_encoder_ffn_dim: int = 1024,
        pose_indicator_blocks: tuple[int, int] | None = None,
        keypoint_encoder_dropout: float = 0.1,
        num_keypoints: int = 18,
        vae_scale_factor_spatial: int = VAE_SCALE_FACTOR_SPATIAL,
        mask_text_padding: bool = False,
        keypoint_encoder_layout: str = "official",
        pose_indicator_fixed_frames: int | None = None,
    ) -> None:
        if vae_scale_factor_spatial not in SUPPORTED_SPATIAL_FACTORS:
            raise ValueError(
                f"vae_scale_factor_spatial must be one of {SUPPORTED_SPATIAL_FACTORS}, got {vae_scale_factor_spatial}"
            )
        super().__init__(
            patch_size=patch_size,
            num_attention_heads=num_attention_heads,
            attention_head_dim=attention_head_dim,
            in_channels=in_channels,
            out_channels=out_channels,
            text_dim=text_dim,
            freq_dim=freq_dim,
            ffn_dim=ffn_dim,
            num_layers=num_layers,
            cross_attn_norm=cross_attn_norm,
            qk_norm=qk_norm,
            eps=eps,
            image_dim=image_dim,
            added_kv_proj_dim=added_kv_proj_dim,
            rope_max_seq_len=rope_max_seq_len,
            pos_embed_seq_len=pos_embed_seq_len,
        )
        inner_dim = num_attention_heads * attention_head_dim
        out_channels = out_channels or in_channels
        condition_channels = in_channels - out_channels

        self.pose_guider = None
        self.ref_pose_encoder = None
        self.pose_indicator = None
        if use_pose_guider:
            self.pose_guider = PoseGuider(
                inner_dim, pose_guider_channels, tuple(patch_size), vae_scale_factor_spatial
            )
        if use_ref_pose_encoder:
            if condition_channels <= 0:
                raise ValueError(
                    f"use_ref_pose_encoder needs image-condition channels (in_channels > out_channels), got "
                    f"in_channels={in_channels}, out_channels={out_channels}; use an I2V config or set "
                    "use_ref_pose_encoder=False."
                )
            self.ref_pose_encoder = RefPoseEncoder(
                condition_channels, pose_guider_channels, vae_scale_factor_spatial
            )
        if use_pose_indicator:
            if patch_size[0] != 1:
                raise ValueError(
                    f"use_pose_indicator needs a temporal patch size of 1, got patch_size={patch_size}."
                )
            if pose_indicator_dim % 2 or pose_indicator_dim % keypoint_encoder_heads:
                raise ValueError(
                    f"pose_indicator_dim={pose_indicator_dim} must be even and divisible by "
                    f"keypoint_encoder_heads={keypoint_encoder_heads}."
                )
            self.pose_indicator = ImplicitPoseIndicator(
                inner_dim,
                motion_embed_dim,
                pose_indicator_dim,
                pose_indicator_layers,
                pose_indicator_heads,
                pose_indicator_head_dim,
                keypoint_encoder_layers,
                keypoint_encoder_heads,
                keypoint_encoder_ffn_dim,
                keypoint_encoder_dropout,
                num_keypoints,
                keypoint_encoder_layout,
                pose_indicator_fixed_frames,
            )
        self.pose_indicator_block_range = self._resolve_block_range(pose_indicator_blocks, num_layers)
        start, end = self.pose_indicator_block_range
        if use_pose_indicator and start > end:
            logger.warning(
                f"With {num_layers} blocks the default IPI range, blocks 2..{num_layers // 2}, is empty: the "
                "implicit pose indicator feeds no block. Set pose_indicator_blocks to use it."
            )
        if use_pose_indicator:
            self._cp_plan = {
                key: dict(value) if isinstance(value, dict) else value for key, value in self._cp_plan.items()
            }
            for index in range(start, end + 1):
                HookRegistry.check_if_exists_or_initialize(self.blocks[index]).register_hook(
                    PoseIndicatorHook(), POSE_INDICATOR_HOOK
                )
                self._cp_plan.setdefault(f"blocks.{index}", {})["pose_indicator_states"] = (
                    ContextParallelInput(split_dim=1, expected_dims=3, split_output=False)
                )
        self.initialize_pose_weights()
        if mask_text_padding:
            for block in self.blocks:
                block.attn2.set_processor(TextPaddingMaskedAttnProcessor())

    @classmethod
    def extract_init_dict(cls, config_dict: dict[str, Any], **kwargs: Any):
        """diffusers' config -> __init__ kwargs, plus one migration: an AnimateX config saved before
        `keypoint_encoder_layout` existed holds weights trained with the legacy layout (a plain Wan config
        has no pose weights, so its new IPI follows the release)."""
        init_dict, unused_kwargs, hidden_dict = super().extract_init_dict(config_dict, **kwargs)
        saved_by_animatex = config_dict.get("_class_name") == cls.__name__
        if saved_by_animatex and "keypoint_encoder_layout" not in {*config_dict, *init_dict}:
            init_dict["keypoint_encoder_layout"] = "legacy"
        return init_dict, unused_kwargs, hidden_dict

    @staticmethod
    def _resolve_block_range(blocks: Iterable[int] | None, num_layers: int) -> tuple[int, int]:
        """Inclusive (start, end) of the blocks fed the IPI; start > end when the release's range is empty."""
        if blocks is None:
            return 2, num_layers // 2  # the release: 2 <= i <= L // 2
        start, end = (int(b) for b in blocks)
        if not 0 <= start <= end < num_layers:
            raise ValueError(
                f"pose_indicator_blocks={tuple(blocks)} must be an inclusive range (start, end) with "
                f"0 <= start <= end < num_layers={num_layers}."
            )
        return start, end

    def initialize_pose_weights(self, modules: Iterable[str] = POSE_MODULES) -> None:
        """(Re)initialise the named pose modules; the IPI output layer is zeroed (DiT `initialize_weights`)."""
        for name in modules:
            module = getattr(self, name)
            if module is not None:
                module.initialize_weights()

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike | None, **kwargs: Any):
        """Diffusers loading; pose modules the checkpoint lacks (e.g. a plain Wan2.1 folder) are initialised."""
        output_loading_info = kwargs.pop("output_loading_info", False)
        model, loading_info = super().from_pretrained(
            pretrained_model_name_or_path, output_loading_info=True, **kwargs
        )
        missing = loading_info["missing_keys"]
        wan_missing = sorted(k for k in missing if k.split(".")[0] not in POSE_MODULES)
        if wan_missing:
            raise ValueError(
                f"{pretrained_model_name_or_path} lacks {len(wan_missing)} Wan transformer weights "
                f"(e.g. {wan_missing[:5]}); check that it is a Wan2.1 transformer folder matching its config."
            )
        new_modules = sorted({k.split(".")[0] for k in missing})
        if new_modules:
            model._materialize_and_initialize(new_modules)
            logger.warning(
                f"{cls.__name__}: {pretrained_model_name_or_path} has no weights for {new_modules}; they were newly "
                "initialised (the implicit pose indicator's output is zero until trained)."
            )
        return (model, loading_info) if output_loading_info else model

    def _materialize_and_initialize(self, names: list[str]) -> None:
        # Under low_cpu_mem_usage, diffusers builds the model on the meta device and skips every init call;
        # weights absent from the checkpoint are still meta tensors here.
        device = self.patch_embedding.weight.device
        for name in names:
            module = getattr(self, name)
            if any(p.is_meta for p in module.parameters()):
                module.to_empty(device=device)
        self.initialize_pose_weights(names)

    def _check_mask_text_padding(self) -> None:
        for index, block in enumerate(self.blocks):
            if not isinstance(block.attn2.processor, TextPaddingMaskedAttnProcessor):
                raise ValueError(
                    f"mask_text_padding=True needs TextPaddingMaskedAttnProcessor in every cross-attention, but "
                    f"block {index} has {type(block.attn2.processor).__name__} (set_attn_processor replaced it)."
                )

    def _check_pose_inputs(
        self,
        pose_video: torch.Tensor | None,
        ref_pose: torch.Tensor | None,
        pose_keypoints: torch.Tensor | None,
        motion_embeds: torch.Tensor | None,
    ) -> None:
        """Each given pose input has its module, and the IPI's two inputs come together."""
        for name, value, module in (
            ("pose_video", pose_video, "pose_guider"),
            ("ref_pose", ref_pose, "ref_pose_encoder"),
            ("motion_embeds", motion_embeds, "pose_indicator"),
        ):
            if value is not None and getattr(self, module) is None:
                raise ValueError(f"{name} was given but this model has no {module} (use_{module}=False).")
        if (motion_embeds is None) != (pose_keypoints is None):
            raise ValueError(
                "The implicit pose indicator needs both motion_embeds and pose_keypoints; pass both or neither."
            )

    def _check_pose_input_shapes(
        self,
        hidden_states: torch.Tensor,
        pose_video: torch.Tensor | None,
        ref_pose: torch.Tensor | None,
        pose_keypoints: torch.Tensor | None,
        motion_embeds: torch.Tensor | None,
    ) -> None:
        """Raw pose inputs fit the latent grid of `hidden_states` (B, C, f, h, w)."""
        batch_size, _, num_frames, height, width = hidden_states.shape
        pixel_frames = (num_frames - 1) * VAE_SCALE_FACTOR_TEMPORAL + 1
        factor = self.config.vae_scale_factor_spatial
        pixel_h, pixel_w = height * factor, width * factor
        grid = f"hidden_states {tuple(hidden_states.shape)} (latent grid {num_frames}x{height}x{width})"
        expected = {
            "pose_video": (
                pose_video,
                (batch_size, 3, pixel_frames, pixel_h, pixel_w),
                f"(B, RGB, 4k+1 frames, {factor}x latent size)",
            ),
            "ref_pose": (ref_pose, (batch_size, 3, pixel_h, pixel_w), f"(B, RGB, {factor}x latent size)"),
            "motion_embeds": (
                motion_embeds,
                (batch_size, pixel_frames, self.config.motion_embed_dim),
                "(B, 4k+1 frames, motion_embed_dim)",
            ),
            "pose_keypoints": (
                pose_keypoints,
                (batch_size, pixel_frames, self.config.num_keypoints, 2),
                "(B, 4k+1 frames, keypoints, xy)",
            ),
        }
        for name, (value, shape, layout) in expected.items():
            if value is not None and tuple(value.shape) != shape:
                raise ValueError(
                    f"{name} has shape {tuple(value.shape)}; for {grid} it must be {shape} {layout}."
                )

    def _check_pose_features(self, hidden_states: torch.Tensor, features: AnimateXPoseFeatures) -> None:
        """The features fit the latent grid of `hidden_states` (B, C, f, h, w)."""
        batch_size, _, num_frames, height, width = hidden_states.shape
        p_t, p_h, p_w = self.config.patch_size
        factor = self.config.vae_scale_factor_spatial
        grid = f"hidden_states {tuple(hidden_states.shape)} (latent grid {num_frames}x{height}x{width})"
        pixel_frames = (num_frames - 1) * VAE_SCALE_FACTOR_TEMPORAL + 1
        expected = {
            "pose_states": (
                (batch_size, self.inner_dim, num_frames // p_t, height // p_h, width // p_w),
                f"a pose_video of {(batch_size, 3, pixel_frames, height * factor, width * factor)}",
            ),
            "ref_pose_embeds": (
                (batch_size, self.config.in_channels - self.config.out_channels, height, width),
                f"a ref_pose of {(batch_size, 3, height * factor, width * factor)}",
            ),
            "pose_indicator_states": (
                (batch_size, num_frames, self.inner_dim),
                f"motion_embeds and pose_keypoints of {pixel_frames} frames",
            ),
        }
        for name, (shape, source) in expected.items():
            value = getattr(features, name)
            if value is not None and tuple(value.shape) != shape:
                raise ValueError(
                    f"pose features {name} have shape {tuple(value.shape)}; {grid} needs {shape}, i.e. {source} "
                    f"(B, RGB or features, 4k+1 frames, {factor}x latent size)."
                )

    @property
    def inner_dim(self) -> int:
        return self.config.num_attention_heads * self.config.attention_head_dim

    def encode_pose_conditions(
        self,
        pose_video: torch.Tensor | None = None,
        ref_pose: torch.Tensor | None = None,
        pose_keypoints: torch.Tensor | None = None,
        motion_embeds: torch.Tensor | None = None,
    ) -> AnimateXPoseFeatures:
        """Run the pose modules once: their outputs depend on the pose inputs only, never on the timestep or the
        noisy latents, so a sampler computes them once per video (or window) and passes them to every step.

        Args:
            pose_video (`torch.Tensor` of shape `(B, 3, 4k+1, H, W)`, *optional*): rendered driving pose frames
                in [0, 1] for the pose guider.
            ref_pose (`torch.Tensor` of shape `(B, 3, H, W)`, *optional*): rendered reference pose in [0, 1].
            pose_keypoints (`torch.Tensor` of shape `(B, 4k+1, num_keypoints, 2)`, *optional*): driving body
                keypoints in [0, 1], -1 for invisible (the IPI query).
            motion_embeds (`torch.Tensor` of shape `(B, 4k+1, motion_embed_dim)`, *optional*): one
                image-encoder feature per driving frame (the IPI keys/values).
        """
        self._check_pose_inputs(pose_video, ref_pose, pose_keypoints, motion_embeds)
        use_checkpointing = torch.is_grad_enabled() and self.gradient_checkpointing
        features = AnimateXPoseFeatures()
        if pose_video is not None:
            pose_video = pose_video.to(self.pose_guider.convs[0].weight.dtype)
            if use_checkpointing:  # its full-resolution activations are the largest of a training step
                features.pose_states = self._gradient_checkpointing_func(self.pose_guider, pose_video)
            else:
                features.pose_states = self.pose_guider(pose_video)  # (B, inner, f / p_t, h / p_h, w / p_w)
        if ref_pose is not None:
            features.ref_pose_embeds = self.ref_pose_encoder(ref_pose.to(self.ref_pose_encoder.convs[0].weight.dtype))
        if motion_embeds is not None:
            dtype = self.pose_indicator.proj_out.weight.dtype
            features.pose_indicator_states = self.pose_indicator(motion_embeds.to(dtype), pose_keypoints.to(dtype))
        return features

    @apply_lora_scale("attention_kwargs")
    def forward(
        self,
        hidden_states: torch.Tensor,
        timestep: torch.LongTensor,
        encoder_hidden_states: torch.Tensor,
        encoder_hidden_states_image: torch.Tensor | None = None,
        pose_video: torch.Tensor | None = None,
        ref_pose: torch.Tensor | None = None,
        pose_keypoints: torch.Tensor | None = None,
        motion_embeds: torch.Tensor | None = None,
        pose_features: AnimateXPoseFeatures | None = None,
        return_dict: bool = True,
        attention_kwargs: dict[str, Any] | None = None,
    ) -> torch.Tensor | Transformer2DModelOutput:
        """
        The [`AnimateXTransformer3DModel`] forward method. The pose conditions come either as raw inputs (run
        through the pose modules here, as in training) or as `pose_features` from `encode_pose_conditions`
        (computed once per video by the pipeline); a pose input left as None means "no such condition", and with
        none at all the output is exactly [`WanTransformer3DModel`]'s.

        Args:
            hidden_states (`torch.Tensor` of shape `(B, in_channels, f, h, w)`):
                Noisy latents concatenated with the image condition `y` (channels `out_channels:`).
            timestep (`torch.LongTensor` of shape `(B,)` or `(B, seq_len)`): denoising step.
            encoder_hidden_states (`torch.Tensor` of shape `(B, text_len, text_dim)`): text embeddings.
            encoder_hidden_states_image (`torch.Tensor` of shape `(B, image_len, image_dim)`, *optional*):
                image-encoder tokens of the reference image.
            pose_video / ref_pose / pose_keypoints / motion_embeds: raw pose inputs, see
                `encode_pose_conditions`; frames and sizes must match the latent grid (4(f-1)+1 frames, VAE
                scale x h, w).
            pose_features (`AnimateXPoseFeatures`, *optional*): precomputed pose features instead of raw inputs.
            return_dict (`bool`): return a `Transformer2DModelOutput` instead of a tuple.
            attention_kwargs (`dict`, *optional*): passed to the attention processors (LoRA `scale`).
        """
        batch_size, num_channels, num_frames, height, width = hidden_states.shape
        p_t, p_h, p_w = self.config.patch_size
        post_patch_num_frames = num_frames // p_t
        post_patch_height = height // p_h
        post_patch_width = width // p_w
        raw = (pose_video, ref_pose, pose_keypoints, motion_embeds)
        if pose_features is None:
            self._check_pose_inputs(*raw)
            self._check_pose_input_shapes(hidden_states, *raw)
            pose_features = self.encode_pose_conditions(*raw)
        elif any(value is not None for value in raw):
            raise ValueError("pass the pose conditions either raw or as pose_features, not both")
        self._check_pose_features(hidden_states, pose_features)

        # 1. Reference pose -> image-condition channels y, broadcast over time
        if pose_features.ref_pose_embeds is not None:
            out_channels = self.config.out_channels
            latents, condition = hidden_states[:, :out_channels], hidden_states[:, out_channels:]
            ref_pose_embeds = pose_features.ref_pose_embeds.unsqueeze(2).to(condition)  # (B, C_y, 1, h, w)
            hidden_states = torch.cat([latents, condition + ref_pose_embeds], dim=1)

        # 2. Patch & rotary embedding
        rotary_emb = self.rope(hidden_states)
        hidden_states = self.patch_embedding(hidden_states)  # (B, inner, f / p_t, h / p_h, w / p_w)
        hidden_states = hidden_states.flatten(2).transpose(1, 2)  # (B, L, inner)

        # 3. Explicit pose: one pose-guider feature per token
        if pose_features.pose_states is not None:
            pose_states = pose_features.pose_states.flatten(2).transpose(1, 2)  # (B, L, inner)
            hidden_states = hidden_states + pose_states.to(hidden_states)
        # flatten+transpose produces a non-contiguous tensor; make it contiguous before the block loop.
        hidden_states = hidden_states.contiguous()

        # 4. Timestep, text and image embeddings (as in WanTransformer3DModel)
        text_mask = None
        if self.config.get("mask_text_padding", False):
            self._check_mask_text_padding()
            missing = TEXT_SEQUENCE_LENGTH - encoder_hidden_states.shape[1]
            if missing > 0:  # zero rows are padding, which the mask drops: exact
                encoder_hidden_states = F.pad(encoder_hidden_states, (0, 0, 0, missing))
            text_mask = text_padding_mask(encoder_hidden_states)
        if timestep.ndim == 2:
            ts_seq_len = timestep.shape[1]
            timestep = timestep.flatten()  # (B * seq_len,)
        else:
            ts_seq_len = None
        temb, timestep_proj, encoder_hidden_states, encoder_hidden_states_image = self.condition_embedder(
            timestep, encoder_hidden_states, encoder_hidden_states_image, timestep_seq_len=ts_seq_len
        )
        if text_mask is not None:
            encoder_hidden_states = zero_text_padding(encoder_hidden_states, text_mask)
        if ts_seq_len is not None:
            timestep_proj = timestep_proj.unflatten(2, (6, -1))  # (B, seq_len, 6, inner)
        else:
            timestep_proj = timestep_proj.unflatten(1, (6, -1))  # (B, 6, inner)
        if encoder_hidden_states_image is not None:
            encoder_hidden_states = torch.concat([encoder_hidden_states_image, encoder_hidden_states], dim=1)

        # 5. Transformer blocks, the IPI (one vector per latent frame) added to the input of its blocks.
        # The IPI goes in as a block argument that `PoseIndicatorHook` adds to the block's input: a step cache that
        # skips a block (FirstBlockCache, MagCache, TaylorSeer) then skips its IPI addition too, instead of adding
        # it again to a cached residual that already holds it. One vector per token, so a context-parallel plan
        # shards it with the sequence.
        pose_indicator_states = pose_features.pose_indicator_states
        if pose_indicator_states is not None:
            pose_indicator_states = pose_indicator_states.to(hidden_states)[:, :, None]  # (B, f, 1, inner)
            tokens_per_frame = hidden_states.shape[1] // post_patch_num_frames
            pose_indicator_states = pose_indicator_states.expand(-1, -1, tokens_per_frame, -1).flatten(1, 2)
        first_block, last_block = self.pose_indicator_block_range
        for index, block in enumerate(self.blocks):
            run_block = block
            if pose_indicator_states is not None and first_block <= index <= last_block:
                run_block = functools.partial(block, pose_indicator_states=pose_indicator_states)
            if torch.is_grad_enabled() and self.gradient_checkpointing:
                hidden_states = self._gradient_checkpointing_func(
                    run_block, hidden_states, encoder_hidden_states, timestep_proj, rotary_emb
                )
            else:
                hidden_states = run_block(hidden_states, encoder_hidden_states, timestep_proj, rotary_emb)

        # 6. Output norm, projection & unpatchify (as in WanTransformer3DModel)
        if temb.ndim == 3:
            # (B, seq_len, inner) (wan 2.2 ti2v)
            shift, scale = (self.scale_shift_table.unsqueeze(0).to(temb.device) + temb.unsqueeze(2)).chunk(
                2, dim=2
            )
            shift = shift.squeeze(2)
            scale = scale.squeeze(2)
        else:
            shift, scale = (self.scale_shift_table.to(temb.device) + temb.unsqueeze(1)).chunk(2, dim=1)
        shift = shift.to(hidden_states.device)
        scale = scale.to(hidden_states.device)

        hidden_states = (self.norm_out(hidden_states.float()) * (1 + scale) + shift).type_as(hidden_states)
        hidden_states = self.proj_out(hidden_states)  # (B, L, p_t * p_h * p_w * out_channels)
        hidden_states = hidden_states.reshape(
            batch_size, post_patch_num_frames, post_patch_height, post_patch_width, p_t, p_h, p_w, -1
        )  # (B, f', h', w', p_t, p_h, p_w, C)
        hidden_states = hidden_states.permute(0, 7, 1, 4, 2, 5, 3, 6)  # (B, C, f', p_t, h', p_h, w', p_w)
        output = hidden_states.flatten(6, 7).flatten(4, 5).flatten(2, 3)  # (B, C, f, h, w)

        if not return_dict:
            return (output,)
        return Transformer2DModelOutput(sample=output)
