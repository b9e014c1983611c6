"""Animate-X++ pose modules (`animate-x++.ckpt`, `animate-x++_simple.ckpt`): `dwpose_embedding`,
`randomref_embedding_pose`, and `DwposeEncoder`/`Resampler` of the release's `IPI_module.py`.

Written from the public description of that file; see the package docstring."""

from __future__ import annotations

import torch
from torch import nn


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
