"""Named transformer sizes (DiT `DiT_models` style): config kwargs for `AnimateXTransformer3DModel`."""

from __future__ import annotations

import inspect
from typing import Any

from animatex.errors import AnimatexError
from animatex.models.transformer_animatex import AnimateXTransformer3DModel

_WAN_I2V_LAYOUT: dict[str, Any] = {
    "patch_size": (1, 2, 2),
    "in_channels": 36,  # 16 noisy latent + 20 image condition y (4 mask + 16 VAE)
    "out_channels": 16,
    "freq_dim": 256,
    "cross_attn_norm": True,
    "qk_norm": "rms_norm_across_heads",
    "eps": 1e-6,
}

ANIMATEX_PRESETS: dict[str, dict[str, Any]] = {
    # The test model: diffusers' tiny Wan test config plus equally tiny pose modules (~46K parameters).
    "tiny": {
        **_WAN_I2V_LAYOUT,
        "num_attention_heads": 2,
        "attention_head_dim": 12,
        "text_dim": 32,
        "ffn_dim": 32,
        "num_layers": 2,
        "image_dim": 4,
        "added_kv_proj_dim": 24,  # separate image K/V in cross-attention, as in the real I2V model
        "rope_max_seq_len": 32,
        "pose_guider_channels": 4,
        "motion_embed_dim": 4,
        "pose_indicator_dim": 16,
        "pose_indicator_layers": 2,
        "pose_indicator_heads": 2,
        "pose_indicator_head_dim": 8,
        "keypoint_encoder_layers": 1,
        "keypoint_encoder_heads": 2,
        "keypoint_encoder_ffn_dim": 32,
        "pose_indicator_blocks": (0, 1),  # the default (2, num_layers // 2) would skip a 2-block model
    },
    # Ours: a ~45M-parameter model for CPU experiments and training on synthetic data. text_dim 384 matches the
    # all-MiniLM-L6-v2 hidden states that ship offline; image/motion widths fit a small image encoder.
    "small": {
        **_WAN_I2V_LAYOUT,
        "num_attention_heads": 8,
        "attention_head_dim": 64,
        "text_dim": 384,
        "ffn_dim": 2048,
        "num_layers": 8,
        "image_dim": 512,
        "added_kv_proj_dim": 512,
        "rope_max_seq_len": 1024,
        "pose_guider_channels": 16,
        "motion_embed_dim": 512,
        "pose_indicator_dim": 256,
        "pose_indicator_layers": 2,
        "pose_indicator_heads": 4,
        "pose_indicator_head_dim": 64,
        "keypoint_encoder_layers": 2,
        "keypoint_encoder_heads": 4,
        "keypoint_encoder_ffn_dim": 512,
        "pose_indicator_blocks": None,
    },
    # Ours: the shipped demo model (~2.2M parameters, 8.8 MB fp32), trained on CPU on 64x64 A2Bench-Synth clips.
    # Sized for the 60 MB pipeline budget (the frozen MiniLM text encoder takes 45 MB of it) and for CPU
    # training. Its VAE compresses space 4x, not Wan's 8x: at 64 px an 8x8 latent cannot hold a character's
    # limbs (its reconstruction fell below the copy-the-reference baseline); 16x16 gives 320 tokens at 17 frames.
    # See weights/animatex-demo/README.md.
    "demo": {
        **_WAN_I2V_LAYOUT,
        "num_attention_heads": 4,
        "attention_head_dim": 32,
        "text_dim": 384,  # all-MiniLM-L6-v2 hidden states
        "ffn_dim": 512,
        "num_layers": 4,
        "image_dim": 128,  # the demo CLIP's hidden size
        "added_kv_proj_dim": 128,
        "rope_max_seq_len": 1024,
        "pose_guider_channels": 16,
        "motion_embed_dim": 128,  # the demo CLIP's projection_dim
        "pose_indicator_dim": 128,
        "pose_indicator_layers": 2,
        "pose_indicator_heads": 4,
        "pose_indicator_head_dim": 32,
        "keypoint_encoder_layers": 1,
        "keypoint_encoder_heads": 4,
        "keypoint_encoder_ffn_dim": 256,
        # The paper's blocks 2..20 of 40 scaled to 4 blocks; the default (2, 2) would feed a single block.
        "pose_indicator_blocks": (1, 2),
        "vae_scale_factor_spatial": 4,
    },
    # Wan2.1-I2V-14B-720P with the official Animate-X++ pose modules (the official release,
    # github.com/Lucaria-Academy/Animate-X-plusplus).
    "wan2.1-i2v-14b": {
        **_WAN_I2V_LAYOUT,
        "num_attention_heads": 40,
        "attention_head_dim": 128,
        "text_dim": 4096,
        "ffn_dim": 13824,
        "num_layers": 40,
        "image_dim": 1280,
        "added_kv_proj_dim": 5120,
        "rope_max_seq_len": 1024,
        "pose_guider_channels": 16,
        "motion_embed_dim": 1024,
        "pose_indicator_dim": 1024,
        "pose_indicator_layers": 8,
        "pose_indicator_heads": 16,
        "pose_indicator_head_dim": 64,
        "keypoint_encoder_layers": 3,
        "keypoint_encoder_heads": 8,
        "keypoint_encoder_ffn_dim": 1024,
        "pose_indicator_blocks": None,  # blocks 2..20
        "pose_indicator_fixed_frames": 81,  # the release's Conv1d (81 -> 21 frames)
    },
}


def build_transformer(preset: str, **overrides: Any) -> AnimateXTransformer3DModel:
    """A randomly initialised transformer of the named size, with config fields overridden by `overrides`."""
    if preset not in ANIMATEX_PRESETS:
        raise AnimatexError(
            f"Unknown transformer preset {preset!r}; choose one of {sorted(ANIMATEX_PRESETS)}."
        )
    known = set(inspect.signature(AnimateXTransformer3DModel.__init__).parameters) - {"self"}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise AnimatexError(
            f"Unknown transformer config field(s) {unknown}; valid fields are {sorted(known)}."
        )
    return AnimateXTransformer3DModel(**{**ANIMATEX_PRESETS[preset], **overrides})
