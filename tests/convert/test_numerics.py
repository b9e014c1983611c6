"""Tiny models saved in the source layouts, converted, give the outputs of the directly built targets."""

import pytest
import torch
from diffusers import AutoencoderKLWan, WanTransformer3DModel
from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection, UMT5Config, UMT5EncoderModel

from animatex.convert import original_layouts as layouts
from animatex.convert.animatex_ckpt import (
    LoraMerger,
    lora_adapter_state_dict,
    merge_lora,
    parse_official_lora,
)
from animatex.convert.core import StateDictSource, check_plan, iter_converted, meta_manifest
from animatex.convert.manifests import target_manifest
from animatex.convert.wan import (
    clip_vision_config,
    openclip_vision_plan,
    umt5_config,
    umt5_plan,
    wan_clip_plan,
    wan_dit_config,
    wan_dit_plan,
    wan_vae_config,
    wan_vae_plan,
)


def convert_into(plan, state, model, extra=None):
    """Check the plan against the model, then load the converted tensors strictly."""
    report = check_plan(plan, {k: v.shape for k, v in state.items()}, target_manifest(model))
    assert report.ok, str(report)
    converted = {}
    for key, tensor in iter_converted(plan, StateDictSource(state)):
        converted[key] = extra(key, tensor) if extra else tensor
    missing, unexpected = model.load_state_dict(converted, strict=False)
    assert not unexpected and all("embed_tokens" in k for k in missing), (missing, unexpected)
    return model


def randomize(module, seed):
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for tensor in module.state_dict().values():
            tensor.copy_(torch.randn(tensor.shape, generator=generator) * 0.2)
    return module


def tiny_dit():
    torch.manual_seed(0)
    dit = layouts.WanModelOriginal(
        dim=24, ffn_dim=32, text_dim=32, image_dim=4, num_heads=2, num_layers=2, text_len=512
    )
    return randomize(dit, 1).eval()


def test_wan_dit_matches_diffusers_after_conversion():
    original = tiny_dit()
    state = original.state_dict()
    config = wan_dit_config(meta_manifest(original), {"num_heads": 2})
    target = convert_into(wan_dit_plan(state), state, WanTransformer3DModel(**config).eval())

    generator = torch.Generator().manual_seed(2)
    x, y = torch.randn(1, 16, 3, 4, 6, generator=generator), torch.randn(1, 20, 3, 4, 6, generator=generator)
    text, clip = torch.randn(1, 7, 32, generator=generator), torch.randn(1, 5, 4, generator=generator)
    t = torch.tensor([637.0])
    with torch.no_grad():
        expected = original(x, t, text, clip, y)
        padded = torch.nn.functional.pad(text, (0, 0, 0, 512 - 7))
        actual = target(torch.cat([x, y], 1), t, padded, encoder_hidden_states_image=clip).sample
    assert expected.shape == actual.shape == (1, 16, 3, 4, 6)
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-4)
    assert expected.abs().mean() > 0.1  # a real signal, not zeros on both sides


def test_wan_dit_norm_swap_matters():
    """Loading the cross-attention norm into the wrong slot must change the output (the test can fail)."""
    original = tiny_dit()
    state = original.state_dict()
    config = wan_dit_config(meta_manifest(original), {"num_heads": 2})
    target = convert_into(wan_dit_plan(state), state, WanTransformer3DModel(**config).eval())
    x, text, image = torch.randn(1, 36, 1, 4, 4), torch.randn(1, 512, 32), torch.randn(1, 3, 4)
    with torch.no_grad():
        before = target(x, torch.tensor([10.0]), text, encoder_hidden_states_image=image).sample
        target.blocks[0].norm2.weight.mul_(3.0)
        after = target(x, torch.tensor([10.0]), text, encoder_hidden_states_image=image).sample
    assert not torch.allclose(before, after)


def test_wan_vae_matches_diffusers_on_a_frame():
    torch.manual_seed(0)
    original = randomize(
        layouts.WanVAEOriginal(dim=8, z_dim=4, dim_mult=(1, 2, 2, 2), num_res_blocks=1), 3
    ).eval()
    state = original.state_dict()
    config = wan_vae_config(meta_manifest(original))
    assert config["dim_mult"] == [1, 2, 2, 2] and config["temperal_downsample"] == [False, True, True]
    target = convert_into(wan_vae_plan(state), state, AutoencoderKLWan(**config).eval())
    frame = torch.randn(1, 3, 1, 32, 32)
    with torch.no_grad():
        expected_mean = original.encode_first_frame(frame)
        actual_mean = target.encode(frame).latent_dist.mean
        torch.testing.assert_close(actual_mean, expected_mean, rtol=1e-4, atol=1e-4)
        expected_frame = original.decode_first_frame(expected_mean)
        actual_frame = target.decode(expected_mean).sample
    # diffusers clamps decoded frames to [-1, 1]
    torch.testing.assert_close(actual_frame, expected_frame.clamp(-1, 1), rtol=1e-4, atol=1e-4)


def test_umt5_encoder_matches_transformers():
    torch.manual_seed(0)
    original = randomize(
        layouts.UMT5EncoderOriginal(
            vocab=50, dim=16, dim_attn=16, dim_ffn=24, num_heads=2, num_layers=2, num_buckets=8
        ),
        4,
    ).eval()
    state = original.state_dict()
    config = UMT5Config(**umt5_config(meta_manifest(original), num_heads=2))
    target = convert_into(umt5_plan(state), state, UMT5EncoderModel(config).eval())
    ids = torch.randint(0, 50, (2, 11))
    with torch.no_grad():
        torch.testing.assert_close(
            target(input_ids=ids).last_hidden_state, original(ids), rtol=1e-4, atol=1e-4
        )


def clip_kwargs():
    return {"image_size": 28, "patch_size": 7}


def test_wan_clip_visual_matches_transformers():
    torch.manual_seed(0)
    vision = {**clip_kwargs(), "dim": 16, "mlp_ratio": 2, "out_dim": 12, "num_heads": 2, "num_layers": 3}
    text = {"vocab": 30, "max_len": 10, "dim": 8, "out_dim": 12, "num_heads": 2, "num_layers": 1}
    original = randomize(layouts.XLMRobertaCLIPOriginal(vision, text), 5).eval()
    state = original.state_dict()
    config = CLIPVisionConfig(**clip_vision_config(meta_manifest(original), "wan", num_heads=2))
    target = convert_into(
        wan_clip_plan(state, with_projection=True), state, CLIPVisionModelWithProjection(config).eval()
    )
    pixels = torch.randn(2, 3, 28, 28)
    with torch.no_grad():
        hidden = target(pixel_values=pixels, output_hidden_states=True).hidden_states
        # Wan feeds the DiT the output of all blocks but the last: diffusers takes hidden_states[-2].
        torch.testing.assert_close(
            hidden[-2], original.visual(pixels, use_31_block=True), rtol=1e-4, atol=1e-4
        )
        torch.testing.assert_close(hidden[-1], original.visual(pixels), rtol=1e-4, atol=1e-4)


def test_openclip_visual_matches_transformers():
    torch.manual_seed(0)
    vision = {**clip_kwargs(), "width": 16, "layers": 2, "heads": 2}
    original = randomize(
        layouts.OpenCLIPModelOriginal(
            embed_dim=12,
            vision=vision,
            context_length=5,
            vocab_size=20,
            text_width=8,
            text_heads=2,
            text_layers=1,
        ),
        6,
    ).eval()
    state = original.state_dict()
    config = CLIPVisionConfig(**clip_vision_config(meta_manifest(original), "openclip", num_heads=2))
    target = convert_into(openclip_vision_plan(state), state, CLIPVisionModelWithProjection(config).eval())
    pixels = torch.randn(2, 3, 28, 28)
    with torch.no_grad():
        pooled, tokens = original.visual(pixels)
        output = target(pixel_values=pixels)
    torch.testing.assert_close(output.image_embeds, pooled, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(output.last_hidden_state, tokens, rtol=1e-4, atol=1e-4)


def lora_checkpoint(dit, rank=3, seed=7):
    generator = torch.Generator().manual_seed(seed)
    shapes = meta_manifest(dit)
    ckpt = {}
    for index in range(len(dit.blocks)):
        for module in layouts.OFFICIAL_LORA_TARGETS:
            out_features, in_features = shapes[f"blocks.{index}.{module}.weight"]
            base = f"pipe.dit.blocks.{index}.{module}"
            ckpt[f"{base}.lora_A.default.weight"] = torch.randn(rank, in_features, generator=generator) * 0.3
            ckpt[f"{base}.lora_B.default.weight"] = torch.randn(out_features, rank, generator=generator) * 0.3
    return ckpt


def test_lora_merge_is_the_official_bf16_rule():
    weight, up, down = torch.randn(6, 5), torch.randn(6, 2), torch.randn(2, 5)
    merged = merge_lora(weight, up, down)
    assert merged.dtype == torch.bfloat16
    expected = weight.bfloat16() + torch.mm(up.bfloat16(), down.bfloat16())
    assert torch.equal(merged, expected)
    with pytest.raises(ValueError, match="do not fit"):
        merge_lora(weight, up, down.t())


def test_lora_keys_need_the_pipe_dit_prefix():
    with pytest.raises(ValueError, match="pipe.dit."):
        parse_official_lora(["blocks.0.self_attn.q.lora_B.default.weight"])
    with pytest.raises(ValueError, match="lora_A"):
        parse_official_lora(["pipe.dit.blocks.0.self_attn.q.lora_B.default.weight"])


def test_merged_lora_equals_the_unmerged_adapter():
    """Merging (in fp32 here) and loading the same deltas as a PEFT adapter give the same transformer output."""
    original = tiny_dit()
    state = original.state_dict()
    ckpt = lora_checkpoint(original)
    pairs = parse_official_lora(ckpt)
    assert len(pairs) == 2 * 10
    config = wan_dit_config(meta_manifest(original), {"num_heads": 2})
    merger = LoraMerger(pairs, StateDictSource(ckpt), dtype=torch.float32)
    merged = convert_into(wan_dit_plan(state), state, WanTransformer3DModel(**config).eval(), extra=merger)
    merger.check_all_merged()
    base = convert_into(wan_dit_plan(state), state, WanTransformer3DModel(**config).eval())
    base.load_lora_adapter(
        lora_adapter_state_dict(pairs, StateDictSource(ckpt)), prefix="transformer", adapter_name="animatex"
    )

    inputs = (torch.randn(1, 36, 1, 4, 4), torch.tensor([300.0]), torch.randn(1, 512, 32))
    with torch.no_grad():
        a = merged(*inputs, encoder_hidden_states_image=torch.ones(1, 2, 4)).sample
        b = base(*inputs, encoder_hidden_states_image=torch.ones(1, 2, 4)).sample
        base.disable_lora()
        c = base(*inputs, encoder_hidden_states_image=torch.ones(1, 2, 4)).sample
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    assert not torch.allclose(a, c, atol=1e-3)
