import logging
import math

import pytest
import torch
from diffusers import WanTransformer3DModel

from animatex.models import (
    ANIMATEX_PRESETS,
    AnimateXTransformer3DModel,
    ImplicitPoseIndicator,
    build_transformer,
)
from animatex.models.transformer_animatex import (
    POSE_MODULES,
    PoseGuider,
    pad_first_frame,
    sinusoidal_frame_encoding,
)

WAN_FIELDS = [
    "patch_size",
    "num_attention_heads",
    "attention_head_dim",
    "in_channels",
    "out_channels",
    "text_dim",
    "freq_dim",
    "ffn_dim",
    "num_layers",
    "cross_attn_norm",
    "qk_norm",
    "eps",
    "image_dim",
    "added_kv_proj_dim",
    "rope_max_seq_len",
    "pos_embed_seq_len",
]


def _tiny(seed: int = 0, **overrides) -> AnimateXTransformer3DModel:
    torch.manual_seed(seed)
    return build_transformer("tiny", **overrides).eval()


def _wan_twin(model: AnimateXTransformer3DModel) -> WanTransformer3DModel:
    """A plain Wan transformer holding the same Wan weights."""
    wan = WanTransformer3DModel(**{k: model.config[k] for k in WAN_FIELDS}).eval()
    missing, unexpected = wan.load_state_dict(model.state_dict(), strict=False)
    assert missing == []
    assert unexpected and all(k.split(".")[0] in POSE_MODULES for k in unexpected)
    return wan


def _inputs(batch=1, frames=3, height=4, width=6, seed=1, motion_dim=4):
    """Latent-space DiT inputs plus pixel-space pose inputs on the matching grid."""
    g = torch.Generator().manual_seed(seed)
    pixel_frames = 4 * (frames - 1) + 1
    base = {
        "hidden_states": torch.randn(batch, 36, frames, height, width, generator=g),
        "timestep": torch.tensor([500] * batch),
        "encoder_hidden_states": torch.randn(batch, 7, 32, generator=g),
        "encoder_hidden_states_image": torch.randn(batch, 5, 4, generator=g),
    }
    pose = {
        "pose_video": torch.rand(batch, 3, pixel_frames, 8 * height, 8 * width, generator=g),
        "ref_pose": torch.rand(batch, 3, 8 * height, 8 * width, generator=g),
        "pose_keypoints": torch.rand(batch, pixel_frames, 18, 2, generator=g),
        "motion_embeds": torch.randn(batch, pixel_frames, motion_dim, generator=g),
    }
    return base, pose


def _wake_pose_indicator(model: AnimateXTransformer3DModel, seed: int = 3) -> None:
    """Give the zero-initialised IPI layers random values, as training would."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in (model.pose_indicator.proj_out, model.pose_indicator.keypoint_encoder.proj_out[-1]):
            layer.weight.copy_(torch.randn(layer.weight.shape, generator=g))
            layer.bias.copy_(torch.randn(layer.bias.shape, generator=g))


def _block_inputs(model, **kwargs) -> list[torch.Tensor]:
    """The hidden states each block computes on: its input plus the IPI its `PoseIndicatorHook` adds."""
    inputs = []

    def record(_module, args, block_kwargs):
        inputs.append(args[0] + block_kwargs.get("pose_indicator_states", 0))

    hooks = [b.register_forward_pre_hook(record, with_kwargs=True) for b in model.blocks]
    try:
        with torch.no_grad():
            model(**kwargs)
    finally:
        for hook in hooks:
            hook.remove()
    return inputs


# 1. Equivalence with Wan ---------------------------------------------------------------------------------


@pytest.mark.parametrize("batch", [1, 2])
def test_no_pose_inputs_equals_wan(batch):
    model = _tiny()
    wan = _wan_twin(model)
    base, _ = _inputs(batch=batch)
    with torch.no_grad():
        ours = model(**base).sample
        theirs = wan(**base).sample
    assert ours.shape == theirs.shape == (batch, 16, 3, 4, 6)
    assert (ours - theirs).abs().max() <= 1e-5


def test_all_pose_inputs_at_init_differ_only_by_explicit_paths():
    model = _tiny()
    base, pose = _inputs()
    with torch.no_grad():
        plain = model(**base).sample
        implicit_only = model(
            **base, pose_keypoints=pose["pose_keypoints"], motion_embeds=pose["motion_embeds"]
        )
        full = model(**base, **pose).sample
    # The IPI output layer starts at zero; the pose guider and ref-pose encoder do not.
    assert torch.equal(implicit_only.sample, plain)
    assert (full - plain).abs().max() > 1e-4


# 2. Shapes -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("pixel_frames", [5, 9, 17, 33])
@pytest.mark.parametrize("height, width", [(2, 6), (6, 4)])
def test_output_shape_any_length_and_non_square(pixel_frames, height, width):
    model = _tiny()
    _wake_pose_indicator(model)
    frames = (pixel_frames - 1) // 4 + 1
    base, pose = _inputs(batch=2, frames=frames, height=height, width=width)
    assert pose["pose_video"].shape[2] == pixel_frames
    with torch.no_grad():
        out = model(**base, **pose).sample
    assert out.shape == (2, 16, frames, height, width)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("pixel_frames", [1, 5, 9, 17, 33])
def test_pose_guider_reaches_the_token_grid(pixel_frames):
    guider = PoseGuider(out_channels=24, hidden_channels=4, patch_size=(1, 2, 2))
    out = guider(torch.rand(2, 3, pixel_frames, 48, 80))
    assert out.shape == (2, 24, (pixel_frames - 1) // 4 + 1, 3, 5)


def test_pose_modules_for_a_4x_spatial_vae_keep_the_layout_and_reach_its_grid():
    wan_sized, demo_sized = _tiny(), _tiny(vae_scale_factor_spatial=4)
    # Same state-dict layout: weights move between the two (e.g. a Wan pose guider as a starting point).
    demo_sized.load_state_dict(wan_sized.state_dict())
    base, _ = _inputs(height=4, width=6)
    g = torch.Generator().manual_seed(5)
    pose_video = torch.rand(1, 3, 9, 16, 24, generator=g)  # 4x the latent grid, not 8x
    ref_pose = torch.rand(1, 3, 16, 24, generator=g)
    assert demo_sized.pose_guider(pose_video).shape[-2:] == (2, 3)  # latent 4x6 / patch 2
    assert demo_sized.ref_pose_encoder(ref_pose).shape[-2:] == (4, 6)
    with torch.no_grad():
        out = demo_sized(**base, pose_video=pose_video, ref_pose=ref_pose).sample
    assert out.shape == (1, 16, 3, 4, 6)
    with pytest.raises(ValueError, match=r"8x latent size"):
        wan_sized(**base, pose_video=pose_video)


def test_unsupported_vae_spatial_factor_is_refused():
    with pytest.raises(ValueError, match="vae_scale_factor_spatial must be one of"):
        _tiny(vae_scale_factor_spatial=16)


def test_pose_guider_is_added_to_the_patch_tokens():
    model = _tiny()
    base, pose = _inputs()
    plain = _block_inputs(model, **base)[0]
    guided = _block_inputs(model, **base, pose_video=pose["pose_video"])[0]
    with torch.no_grad():
        expected = model.pose_guider(pose["pose_video"]).flatten(2).transpose(1, 2)  # (B, L, inner)
    torch.testing.assert_close(guided - plain, expected, atol=1e-5, rtol=1e-5)


def test_ref_pose_is_added_to_the_condition_channels_over_time():
    model = _tiny()
    base, pose = _inputs()
    with torch.no_grad():
        features = model.ref_pose_encoder(pose["ref_pose"])  # (B, 20, h, w)
        assert features.shape == (1, 20, 4, 6)
        shifted = base["hidden_states"].clone()
        shifted[:, 16:] += features[:, :, None]
        expected = model(**{**base, "hidden_states": shifted}).sample
        got = model(**base, ref_pose=pose["ref_pose"]).sample
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


# 3. Implicit Pose Indicator ----------------------------------------------------------------------------


@pytest.mark.parametrize("pixel_frames", [1, 5, 9, 17, 33])
def test_pose_indicator_is_exactly_zero_at_init_then_learns(pixel_frames):
    model = _tiny()
    _, pose = _inputs(frames=(pixel_frames - 1) // 4 + 1)
    with torch.no_grad():
        states = model.pose_indicator(pose["motion_embeds"], pose["pose_keypoints"])
        assert states.shape == (1, (pixel_frames - 1) // 4 + 1, 24)
        assert torch.count_nonzero(states) == 0
        with torch.no_grad():
            model.pose_indicator.proj_out.weight.normal_()
        assert model.pose_indicator(pose["motion_embeds"], pose["pose_keypoints"]).abs().min() > 0


def test_keypoints_reach_the_output_only_after_their_zero_init_layer_trains():
    model = _tiny()
    with torch.no_grad():
        model.pose_indicator.proj_out.weight.normal_()
    _, pose = _inputs()
    other_keypoints = torch.rand_like(pose["pose_keypoints"])
    with torch.no_grad():
        a = model.pose_indicator(pose["motion_embeds"], pose["pose_keypoints"])
        b = model.pose_indicator(pose["motion_embeds"], other_keypoints)
        assert torch.equal(a, b)
        _wake_pose_indicator(model)
        a = model.pose_indicator(pose["motion_embeds"], pose["pose_keypoints"])
        b = model.pose_indicator(pose["motion_embeds"], other_keypoints)
    assert (a - b).abs().max() > 1e-4


def test_temporal_compression_starts_as_a_mean_over_groups_of_four():
    ipi = ImplicitPoseIndicator(out_dim=8, motion_embed_dim=4, dim=16, num_layers=1, num_heads=2, head_dim=8)
    ipi.initialize_weights()
    frames = torch.randn(2, 16, 12)  # (B, dim, 4k+4)
    expected = frames.unflatten(2, (3, 4)).mean(-1)
    torch.testing.assert_close(ipi.temporal_downsample(frames), expected)


def test_pad_first_frame_repeats_the_first_frame_three_times():
    frames = torch.arange(5.0).reshape(1, 5, 1)
    assert pad_first_frame(frames, dim=1).flatten().tolist() == [0, 0, 0, 0, 1, 2, 3, 4]


def test_frame_encoding_matches_the_classic_table():
    dim, length = 32, 330
    table = torch.tensor(
        [[pos / 10000 ** (2 * (j // 2) / dim) for j in range(dim)] for pos in range(length)],
        dtype=torch.float64,
    )
    table[:, 0::2] = table[:, 0::2].sin()
    table[:, 1::2] = table[:, 1::2].cos()
    torch.testing.assert_close(sinusoidal_frame_encoding(length, dim, dtype=torch.float64), table)


def test_pose_indicator_is_added_before_each_block_in_range_only():
    model = _tiny(num_layers=4, pose_indicator_blocks=(1, 2))
    _wake_pose_indicator(model)
    base, pose = _inputs()
    implicit = {"pose_keypoints": pose["pose_keypoints"], "motion_embeds": pose["motion_embeds"]}
    plain = _block_inputs(model, **base)
    with_ipi = _block_inputs(model, **base, **implicit)
    with torch.no_grad():
        states = model.pose_indicator(implicit["motion_embeds"], implicit["pose_keypoints"])  # (B, f, inner)
    expected = states[:, :, None].expand(-1, -1, 2 * 3, -1).flatten(1, 2)  # (B, f * h' * w', inner)
    assert torch.equal(with_ipi[0], plain[0])
    torch.testing.assert_close(with_ipi[1] - plain[1], expected, atol=1e-5, rtol=1e-5)
    # Block 2 gets the IPI again on top of block 1's (now different) output.
    assert not torch.allclose(with_ipi[2] - plain[2], expected, atol=1e-3)


# The release's rule 2 <= i <= L // 2, empty (start > end) below 4 blocks.
@pytest.mark.parametrize(
    "num_layers, expected", [(40, (2, 20)), (8, (2, 4)), (4, (2, 2)), (3, (2, 1)), (2, (2, 1)), (1, (2, 0))]
)
def test_default_block_range(num_layers, expected):
    assert AnimateXTransformer3DModel._resolve_block_range(None, num_layers) == expected


# 4. Switches -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("module", POSE_MODULES)
def test_switching_a_module_off_removes_its_keys(module):
    model = _tiny(**{f"use_{module}": False})
    assert getattr(model, module) is None
    prefixes = {key.split(".")[0] for key in model.state_dict()}
    assert module not in prefixes
    assert set(POSE_MODULES) - {module} <= prefixes
    base, pose = _inputs()
    argument = {
        "pose_guider": "pose_video",
        "ref_pose_encoder": "ref_pose",
        "pose_indicator": "motion_embeds",
    }
    with pytest.raises(ValueError, match=f"no {module}"):
        model(**base, **pose)
    # Everything else still works without the input of the missing module.
    dropped = {"pose_indicator": ("motion_embeds", "pose_keypoints")}.get(module, (argument[module],))
    with torch.no_grad():
        out = model(**base, **{k: v for k, v in pose.items() if k not in dropped}).sample
    assert out.shape == (1, 16, 3, 4, 6)


def test_all_switches_off_is_a_plain_wan_state_dict():
    model = _tiny(use_pose_guider=False, use_ref_pose_encoder=False, use_pose_indicator=False)
    wan = WanTransformer3DModel(**{k: model.config[k] for k in WAN_FIELDS})
    assert set(model.state_dict()) == set(wan.state_dict())


# 5. Loading, saving, checkpointing ---------------------------------------------------------------------


def _save_tiny_wan(folder) -> WanTransformer3DModel:
    torch.manual_seed(0)
    wan = WanTransformer3DModel(**{k: v for k, v in ANIMATEX_PRESETS["tiny"].items() if k in WAN_FIELDS})
    wan.save_pretrained(folder)
    return wan.eval()


POSE_CONFIG = {k: v for k, v in ANIMATEX_PRESETS["tiny"].items() if k not in WAN_FIELDS}


def test_plain_wan_folder_loads_and_pose_modules_are_initialised(tmp_path, caplog):
    wan = _save_tiny_wan(tmp_path / "wan")
    with caplog.at_level(logging.WARNING):
        model = AnimateXTransformer3DModel.from_pretrained(tmp_path / "wan", **POSE_CONFIG)
    assert "newly initialised" in caplog.text
    assert all(name in caplog.text for name in POSE_MODULES)
    wan_state = wan.state_dict()
    for key, value in model.state_dict().items():
        assert not value.is_meta, key
        assert torch.isfinite(value).all(), key
        if key in wan_state:
            assert torch.equal(value, wan_state[key]), key
    assert torch.count_nonzero(model.pose_indicator.proj_out.weight) == 0
    assert torch.count_nonzero(model.pose_indicator.keypoint_encoder.proj_out[-1].weight) == 0
    assert model.pose_guider.convs[0].weight.abs().sum() > 0
    base, pose = _inputs()
    with torch.no_grad():
        assert (model(**base).sample - wan(**base).sample).abs().max() <= 1e-5
        ipi_only = model(**base, pose_keypoints=pose["pose_keypoints"], motion_embeds=pose["motion_embeds"])
        assert torch.equal(ipi_only.sample, model(**base).sample)
        assert torch.isfinite(model(**base, **pose).sample).all()


def test_plain_wan_folder_loads_in_bfloat16(tmp_path):
    _save_tiny_wan(tmp_path / "wan")
    model = AnimateXTransformer3DModel.from_pretrained(
        tmp_path / "wan", torch_dtype=torch.bfloat16, **POSE_CONFIG
    )
    assert model.pose_guider.convs[0].weight.dtype == torch.bfloat16
    assert torch.count_nonzero(model.pose_indicator.proj_out.weight) == 0
    base, pose = _inputs()
    base = {k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in base.items()}
    with torch.no_grad():
        assert torch.isfinite(model(**base, **pose).sample.float()).all()


def test_folder_missing_wan_weights_is_a_clear_error(tmp_path):
    model = _tiny()
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("blocks.1.")}
    model.save_pretrained(tmp_path / "m")
    from safetensors.torch import save_file

    save_file(state, tmp_path / "m" / "diffusion_pytorch_model.safetensors")
    with pytest.raises(ValueError, match="lacks .* Wan transformer weights"):
        AnimateXTransformer3DModel.from_pretrained(tmp_path / "m")


def test_save_load_round_trip(tmp_path, caplog):
    model = _tiny(num_layers=3, pose_indicator_blocks=(1, 2))
    _wake_pose_indicator(model)
    model.save_pretrained(tmp_path / "m")
    with caplog.at_level(logging.WARNING):
        loaded = AnimateXTransformer3DModel.from_pretrained(tmp_path / "m")
    assert "newly initialised" not in caplog.text
    assert loaded.pose_indicator_block_range == (1, 2)

    def public(config):
        fields = {k: v for k, v in config.items() if not k.startswith("_")}
        fields["pose_indicator_blocks"] = tuple(fields["pose_indicator_blocks"])
        fields["patch_size"] = tuple(fields["patch_size"])
        return fields

    assert public(loaded.config) == public(model.config)
    original = model.state_dict()
    assert set(loaded.state_dict()) == set(original)
    assert all(torch.equal(v, original[k]) for k, v in loaded.state_dict().items())
    base, pose = _inputs()
    with torch.no_grad():
        assert torch.equal(loaded(**base, **pose).sample, model(**base, **pose).sample)


def _assert_checkpointing_keeps_gradients(model, inputs: dict) -> set[str]:
    """Gradients with and without gradient checkpointing agree; returns the names of the trained parameters."""

    def gradients() -> dict[str, torch.Tensor]:
        model.zero_grad(set_to_none=True)
        model(**inputs).sample.square().mean().backward()
        return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    reference = gradients()
    model.enable_gradient_checkpointing()
    assert model.gradient_checkpointing
    checkpointed = gradients()
    assert set(checkpointed) == set(reference)
    for name, grad in reference.items():
        torch.testing.assert_close(checkpointed[name], grad, atol=1e-6, rtol=1e-5, msg=name)
    return set(reference)


def test_gradient_checkpointing_gives_the_same_gradients():
    model = _tiny()
    _wake_pose_indicator(model)
    base, pose = _inputs()
    trained = _assert_checkpointing_keeps_gradients(model, {**base, **pose})
    assert any(n.startswith("pose_indicator.") for n in trained)
    assert any(n.startswith("pose_guider.") for n in trained)


# Text padding mask ------------------------------------------------------------------------------------------


def _pad_prompt(embeds: torch.Tensor, length: int) -> torch.Tensor:
    """Zero rows past the prompt, as the pipeline writes them."""
    return torch.nn.functional.pad(embeds, (0, 0, 0, length - embeds.shape[1]))


def test_masked_text_padding_equals_attending_to_the_real_tokens_only():
    # Without an image branch the text may have any length, so "no padding at all" is the exact reference.
    no_image = {"image_dim": None, "added_kv_proj_dim": None}
    masked, plain = _tiny(mask_text_padding=True, **no_image), _tiny(**no_image)
    assert all(torch.equal(v, plain.state_dict()[k]) for k, v in masked.state_dict().items())
    base, pose = _inputs(batch=2)
    del base["encoder_hidden_states_image"], base["encoder_hidden_states"]
    g = torch.Generator().manual_seed(5)
    prompts = [torch.randn(1, n, 32, generator=g) for n in (7, 3)]  # two lengths in one batch
    padded = torch.cat([_pad_prompt(p, 40) for p in prompts])
    inputs = {**base, **pose}
    with torch.no_grad():
        got = masked(**inputs, encoder_hidden_states=padded).sample
        for index, prompt in enumerate(prompts):
            single = {k: v[index : index + 1] for k, v in inputs.items()}
            want = plain(**single, encoder_hidden_states=prompt).sample
            torch.testing.assert_close(got[index : index + 1], want, atol=1e-5, rtol=1e-5)
        diluted = plain(**inputs, encoder_hidden_states=padded).sample
    assert (diluted - got).abs().max() > 1e-3  # Wan's way: the padding changes the result


def test_text_cut_to_the_longest_prompt_equals_masking_with_the_image_branch():
    # The transformer drops the text past the batch's longest prompt: a row whose padding is masked (in the
    # batch) and the same row with that padding cut away (alone) must agree, image cross-attention included.
    model = _tiny(mask_text_padding=True)
    base, pose = _inputs(batch=2)
    g = torch.Generator().manual_seed(6)
    prompts = [torch.randn(1, n, 32, generator=g) for n in (9, 4)]
    inputs = {**base, **pose, "encoder_hidden_states": torch.cat([_pad_prompt(p, 512) for p in prompts])}
    with torch.no_grad():
        together = model(**inputs).sample
        for index in range(2):
            alone = model(**{k: v[index : index + 1] for k, v in inputs.items()}).sample
            torch.testing.assert_close(together[index : index + 1], alone, atol=1e-5, rtol=1e-5)
        inputs["encoder_hidden_states_image"] = torch.zeros_like(inputs["encoder_hidden_states_image"])
        assert (model(**inputs).sample - together).abs().max() > 1e-3  # the image tokens still count


def test_text_padding_mask_keeps_real_tokens_and_the_first():
    from animatex.models.transformer_animatex import text_padding_mask

    embeds = torch.zeros(2, 4, 3)
    embeds[0, :2] = 1.0
    embeds[0, 1, 0] = 0.0  # a real token with some zero features is still real
    mask = text_padding_mask(embeds)
    assert mask.shape == (2, 1, 1, 4)
    assert mask[0, 0, 0].tolist() == [True, True, False, False]
    assert mask[1, 0, 0].tolist() == [True, False, False, False]  # an all-zero prompt still attends somewhere


def test_masked_model_round_trips_and_checkpoints_with_512_padded_text(tmp_path):
    model = _tiny(mask_text_padding=True)
    base, pose = _inputs()
    base["encoder_hidden_states"] = _pad_prompt(base["encoder_hidden_states"], 512)  # the I2V layout
    model.save_pretrained(tmp_path)
    loaded = AnimateXTransformer3DModel.from_pretrained(tmp_path, disable_mmap=True).eval()
    assert all(type(b.attn2.processor).__name__ == "TextPaddingMaskedAttnProcessor" for b in loaded.blocks)
    with torch.no_grad():
        torch.testing.assert_close(loaded(**base, **pose).sample, model(**base, **pose).sample)
    _assert_checkpointing_keeps_gradients(model, {**base, **pose})


def test_masked_model_refuses_a_replaced_attention_processor():
    from diffusers.models.transformers.transformer_wan import WanAttnProcessor

    model = _tiny(mask_text_padding=True)
    model.blocks[1].attn2.set_processor(WanAttnProcessor())
    base, pose = _inputs()
    with pytest.raises(ValueError, match="block 1 has WanAttnProcessor"):
        model(**base, **pose)


def test_bfloat16_model_accepts_float32_pose_inputs():
    model = _tiny().to(torch.bfloat16)
    base, pose = _inputs()
    base = {k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in base.items()}
    with torch.no_grad():
        out = model(**base, **pose).sample
    assert out.dtype == torch.bfloat16 and torch.isfinite(out.float()).all()


# 6. Errors ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, bad, message",
    [
        ("pose_video", torch.rand(1, 3, 8, 32, 48), "pose_video has shape"),
        ("pose_video", torch.rand(1, 3, 9, 32, 40), "pose_video has shape"),
        ("pose_video", torch.rand(2, 3, 9, 32, 48), "pose_video has shape"),
        ("pose_video", torch.rand(1, 3, 9, 4, 6), "8x latent size"),
        ("ref_pose", torch.rand(1, 3, 48, 32), "ref_pose has shape"),
        ("ref_pose", torch.rand(1, 3, 9, 32, 48), "ref_pose has shape"),
        ("motion_embeds", torch.randn(1, 9, 5), "motion_embeds has shape"),
        ("motion_embeds", torch.randn(1, 5, 4), "motion_embeds has shape"),
        ("pose_keypoints", torch.rand(1, 9, 17, 2), "pose_keypoints has shape"),
        ("pose_keypoints", torch.rand(1, 9, 36), "pose_keypoints has shape"),
    ],
)
def test_mismatched_pose_shapes_raise(name, bad, message):
    model = _tiny()
    base, pose = _inputs()
    with pytest.raises(ValueError, match=message) as error:
        model(**base, **{**pose, name: bad})
    assert str(tuple(bad.shape)) in str(error.value)


@pytest.mark.parametrize("given", ["motion_embeds", "pose_keypoints"])
def test_pose_indicator_needs_both_inputs(given):
    model = _tiny()
    base, pose = _inputs()
    with pytest.raises(ValueError, match="both motion_embeds and pose_keypoints"):
        model(**base, **{given: pose[given]})


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"pose_indicator_blocks": (1, 0)}, "pose_indicator_blocks"),
        ({"pose_indicator_blocks": (0, 2)}, "num_layers=2"),
        ({"in_channels": 16}, "use_ref_pose_encoder"),
        ({"pose_indicator_dim": 15}, "pose_indicator_dim"),
    ],
)
def test_bad_config_raises(overrides, message):
    with pytest.raises(ValueError, match=message):
        build_transformer("tiny", **overrides)


def test_inner_dim_width_of_every_injection():
    model = _tiny()
    inner = model.config.num_attention_heads * model.config.attention_head_dim
    assert model.pose_guider.convs[-1].out_channels == inner
    assert model.pose_indicator.proj_out.out_features == inner
    assert (
        model.ref_pose_encoder.convs[-1].out_channels == model.config.in_channels - model.config.out_channels
    )
    assert math.prod(model.pose_guider.convs[-1].stride) == math.prod(model.config.patch_size)
