"""Full-size manifests of the published layouts (meta device): every source key consumed, every target filled."""

import pytest
from accelerate import init_empty_weights

from animatex.convert.manifests import official_checkpoint_manifest, verify_layouts
from animatex.convert.wan import wan_dit_key, wan_original_dit_key
from animatex.models.presets import build_transformer
from animatex.models.transformer_animatex import POSE_MODULES


@pytest.fixture(scope="module")
def checks():
    return {check.name: check for check in verify_layouts(lora_rank=128)}


@pytest.mark.parametrize(
    "name, num_source, num_target",
    [
        ("wan dit", 1303, 1303),
        ("wan vae", 194, 194),
        ("umt5-xxl encoder", 242, 242),
        ("wan clip vit-h/14", 784, 520),  # the XLM-R text tower and log_scale are dropped with a reason
        ("openclip vit-h-14", 686, 520),  # the OpenCLIP text tower is dropped with a reason
    ],
)
def test_wan_and_clip_layouts_convert_exactly(checks, name, num_source, num_target):
    check = checks[name]
    assert check.report.ok, str(check.report)
    assert (check.num_source, check.num_target) == (num_source, num_target)


def test_dit_manifest_has_the_published_size():
    from animatex.convert.manifests import on_meta
    from animatex.convert.original_layouts import WanModelOriginal

    dit = on_meta(WanModelOriginal)
    assert sum(p.numel() for p in dit.parameters()) == pytest.approx(16.39e9, rel=1e-3)


def test_official_checkpoint_manifest_lists_ten_lora_layers_per_block():
    full = official_checkpoint_manifest(simple=False, lora_rank=64)
    simple = official_checkpoint_manifest(simple=True, lora_rank=64)
    assert sum(".lora_A." in k for k in full) == 40 * 10
    assert full["pipe.dit.blocks.3.ffn.0.lora_B.default.weight"] == (13824, 64)
    assert not any(k.startswith(("pose_embedding_before", "pose_embedding_after")) for k in simple)
    assert full["pose_embedding_before.pos_embed.pos_table"] == (1, 330, 1024)
    assert full["pose_embedding_after.proj_conv.weight"] == (21, 81, 3)


@pytest.mark.parametrize("name", ["animate-x++.ckpt", "animate-x++_simple.ckpt"])
def test_official_checkpoints_fill_the_animatex_transformer(checks, name):
    check = checks[name]
    assert check.report.ok, str(check.report)


def test_original_names_invert_the_converters_names():
    with init_empty_weights():
        model = build_transformer("wan2.1-i2v-14b")
    keys = [key for key in model.state_dict() if key.split(".")[0] not in POSE_MODULES]
    assert len(keys) == 1303  # every tensor of the released DiT
    for key in keys:
        original = wan_original_dit_key(key)
        assert original is not None and wan_dit_key(original) == key, key
    assert wan_original_dit_key("blocks.0.attn2.add_k_proj.weight") == "blocks.0.cross_attn.k_img.weight"
    assert wan_original_dit_key("blocks.0.norm2.weight") == "blocks.0.norm3.weight"
    assert wan_original_dit_key("pose_guider.convs.0.weight") is None
