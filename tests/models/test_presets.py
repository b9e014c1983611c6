import inspect

import pytest
import torch

from animatex.errors import AnimatexError
from animatex.models import ANIMATEX_PRESETS, AnimateXTransformer3DModel, build_transformer
from animatex.models.transformer_animatex import POSE_MODULES


def _count(model, pose: bool) -> int:
    return sum(p.numel() for n, p in model.named_parameters() if (n.split(".")[0] in POSE_MODULES) == pose)


def test_presets_are_named_config_kwargs():
    assert {"tiny", "small", "wan2.1-i2v-14b"} <= set(ANIMATEX_PRESETS)
    fields = set(inspect.signature(AnimateXTransformer3DModel.__init__).parameters) - {"self"}
    for kwargs in ANIMATEX_PRESETS.values():
        assert set(kwargs) <= fields
        assert kwargs["in_channels"] - kwargs["out_channels"] == 20
        assert kwargs["added_kv_proj_dim"] == kwargs["num_attention_heads"] * kwargs["attention_head_dim"]


def test_tiny_preset_is_the_test_config():
    model = build_transformer("tiny")
    c = model.config
    assert (c.num_attention_heads, c.attention_head_dim, c.num_layers, c.text_dim, c.image_dim) == (
        2,
        12,
        2,
        32,
        4,
    )
    assert c.motion_embed_dim == 4
    assert _count(model, pose=False) + _count(model, pose=True) < 100_000


def test_full_size_preset_has_the_published_sizes():
    # Built on the meta device: shapes and counts without allocating 65 GB.
    with torch.device("meta"):
        model = build_transformer("wan2.1-i2v-14b")
    c = model.config
    assert (c.num_layers, c.num_attention_heads * c.attention_head_dim, c.ffn_dim) == (40, 5120, 13824)
    assert (c.text_dim, c.image_dim, c.in_channels) == (4096, 1280, 36)
    assert round(_count(model, pose=False) / 1e9, 2) == 16.39  # the official release's `examples/inference_480p.py`
    assert len([k for k in model.state_dict() if k.split(".")[0] not in POSE_MODULES]) == 1303
    assert model.pose_indicator_block_range == (2, 20)
    assert model.pose_guider.convs[-1].weight.shape == (5120, 16, 1, 2, 2)
    assert model.ref_pose_encoder.convs[-1].weight.shape == (20, 16, 3, 3)
    assert model.pose_indicator.resampler.layers[0][0].to_q.weight.shape == (16 * 64, 1024)
    assert model.pose_indicator.keypoint_encoder.keypoint_embed[0].weight.shape == (512, 36)
    assert model.pose_indicator.proj_out.weight.shape == (5120, 1024)


def test_overrides_and_unknown_names():
    model = build_transformer("tiny", num_layers=3, use_pose_indicator=False)
    assert model.config.num_layers == 3 and model.pose_indicator is None
    with pytest.raises(AnimatexError, match="Unknown transformer preset 'huge'"):
        build_transformer("huge")
    with pytest.raises(AnimatexError, match="num_layer"):
        build_transformer("tiny", num_layer=3)
