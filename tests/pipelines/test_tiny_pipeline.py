import torch

from animatex.models import AnimateXTransformer3DModel
from animatex.pipelines import AnimateXPipeline
from animatex.pipelines.tiny import build_tiny_pipeline


def _max_weight_difference(a: torch.nn.Module, b: torch.nn.Module) -> float:
    return max((pa - pb).abs().max().item() for pa, pb in zip(a.parameters(), b.parameters(), strict=True))


def test_same_seed_same_weights_other_seed_other_weights():
    first, again, other = (
        build_tiny_pipeline(seed=0),
        build_tiny_pipeline(seed=0),
        build_tiny_pipeline(seed=1),
    )
    assert isinstance(first, AnimateXPipeline) and isinstance(first.transformer, AnimateXTransformer3DModel)
    for name in ("transformer", "vae", "image_encoder", "text_encoder"):
        assert _max_weight_difference(getattr(first, name), getattr(again, name)) == 0.0
        assert _max_weight_difference(getattr(first, name), getattr(other, name)) > 0.0


def test_widths_match_the_transformer_and_text_encoder():
    pipe = build_tiny_pipeline()
    config = pipe.transformer.config
    assert pipe.text_encoder.config.hidden_size == config.text_dim
    assert pipe.text_encoder.config.vocab_size == pipe.tokenizer.vocab_size
    assert pipe.image_encoder.config.hidden_size == config.image_dim
    assert pipe.image_encoder.config.projection_dim == config.motion_embed_dim
    assert pipe.scheduler.config.shift == 5.0
    assert not pipe.transformer.training


def test_zero_init_layers_are_randomised_only_on_request():
    randomised = build_tiny_pipeline().transformer.pose_indicator.proj_out.weight
    paper_init = build_tiny_pipeline(randomize_zero_init=False).transformer.pose_indicator.proj_out.weight
    assert torch.count_nonzero(randomised) > 0
    assert torch.count_nonzero(paper_init) == 0


def test_config_and_component_overrides():
    pipe = build_tiny_pipeline(use_pose_indicator=False, motion_encoder=None)
    assert pipe.transformer.pose_indicator is None and not pipe.transformer.config.use_pose_indicator
    transformer = build_tiny_pipeline(seed=5).transformer
    assert build_tiny_pipeline(transformer=transformer).transformer is transformer
