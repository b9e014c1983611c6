"""Converting an official Animate-X++ checkpoint keeps what the release computes with it (issue #18)."""

import pytest
import torch

from animatex.convert import original_layouts as layouts
from animatex.convert.animatex_ckpt import pose_config_from_checkpoint
from animatex.convert.pipeline_folder import ConvertOptions, convert_to_pipeline
from animatex.models import ANIMATEX_PRESETS, AnimateXTransformer3DModel

# The tiny preset's IPI sizes, with the release's 16-channel pose convs.
POSE_FIELDS = {
    **{k: v for k, v in ANIMATEX_PRESETS["tiny"].items() if k.startswith(("pose_", "motion_", "keypoint_"))},
    "pose_guider_channels": 16,
}


def _official_checkpoint(dit: dict, simple: bool, seed: int = 5) -> dict[str, torch.Tensor]:
    """Random pose modules at the tiny sizes under the release's names, plus a rank-2 LoRA on every target."""
    modules = layouts.AnimateXPoseModulesOriginal(
        simple=simple,
        model_dim=24,
        before={"d_model": 16, "nhead": 2, "num_layers": 1, "dim_feedforward": 32},
        after={"dim": 16, "depth": 2, "dim_head": 8, "heads": 2, "embedding_dim": 4, "output_dim": 16},
    )
    generator = torch.Generator().manual_seed(seed)
    ckpt = {k: torch.randn(v.shape, generator=generator) * 0.2 for k, v in modules.state_dict().items()}
    for index in range(2):
        for module in layouts.OFFICIAL_LORA_TARGETS:
            out_features, in_features = dit[f"blocks.{index}.{module}.weight"].shape
            base = f"pipe.dit.blocks.{index}.{module}"
            ckpt[f"{base}.lora_A.default.weight"] = torch.randn(2, in_features, generator=generator) * 0.3
            ckpt[f"{base}.lora_B.default.weight"] = torch.randn(out_features, 2, generator=generator) * 0.3
    return ckpt


def _convert(root, out, ckpt_path, dtype):
    options = ConvertOptions(dtype=dtype, transformer_overrides=POSE_FIELDS)
    convert_to_pipeline(root, out, official_ckpt=ckpt_path, options=options)
    return AnimateXTransformer3DModel.from_pretrained(out / "transformer")


def test_full_checkpoint_keeps_its_81_frame_conv_and_keypoint_columns(original_release, tmp_path, capsys):
    root, dit = original_release
    ckpt = _official_checkpoint(dit, simple=False)
    torch.save(ckpt, tmp_path / "animate-x++.ckpt")
    model = _convert(root, tmp_path / "out", tmp_path / "animate-x++.ckpt", torch.float32)
    printed = capsys.readouterr().out
    assert "full variant" in printed and "81-frame temporal Conv1d was kept" in printed

    assert model.config.pose_indicator_fixed_frames == 81
    assert model.config.keypoint_encoder_layout == "official"
    ipi = model.pose_indicator
    torch.testing.assert_close(
        ipi.fixed_length_downsample.weight, ckpt["pose_embedding_after.proj_conv.weight"], rtol=0, atol=0
    )
    torch.testing.assert_close(
        ipi.fixed_length_downsample.bias, ckpt["pose_embedding_after.proj_conv.bias"], rtol=0, atol=0
    )
    # The encoder reads the release's x-then-y order, so the first Linear's columns are copied as they are.
    torch.testing.assert_close(
        ipi.keypoint_encoder.keypoint_embed[0].weight,
        ckpt["pose_embedding_before.increase_embed_dim.0.weight"],
        rtol=0,
        atol=0,
    )


def test_fp32_conversion_merges_the_lora_in_fp32(original_release, tmp_path):
    root, dit = original_release
    ckpt = _official_checkpoint(dit, simple=True)
    torch.save(ckpt, tmp_path / "animate-x++_simple.ckpt")
    model = _convert(root, tmp_path / "out", tmp_path / "animate-x++_simple.ckpt", torch.float32)
    up = ckpt["pipe.dit.blocks.1.self_attn.q.lora_B.default.weight"]
    down = ckpt["pipe.dit.blocks.1.self_attn.q.lora_A.default.weight"]
    weight = dit["blocks.1.self_attn.q.weight"]
    merged = model.blocks[1].attn1.to_q.weight.detach()
    torch.testing.assert_close(merged, weight + up @ down, rtol=1e-6, atol=1e-6)
    in_bf16 = (weight.bfloat16() + up.bfloat16() @ down.bfloat16()).float()
    assert (merged - in_bf16).abs().max() > 1e-3  # a bf16 merge would have rounded it


def test_variant_line_for_the_simple_checkpoint(original_release, tmp_path, capsys):
    root, dit = original_release
    torch.save(_official_checkpoint(dit, simple=True), tmp_path / "animate-x++_simple.ckpt")
    model = _convert(root, tmp_path / "out", tmp_path / "animate-x++_simple.ckpt", torch.bfloat16)
    assert "simple variant (no Implicit Pose Indicator)" in capsys.readouterr().out
    assert model.pose_indicator is None


def test_a_conv_that_is_not_4k_plus_1_to_k_plus_1_is_refused():
    shapes = {
        "dwpose_embedding.0.weight": torch.Size([16, 3, 3, 3, 3]),
        "randomref_embedding_pose.0.weight": torch.Size([16, 3, 3, 3]),
        "pose_embedding_before.increase_embed_dim.0.weight": torch.Size([8, 36]),
        "pose_embedding_after.proj_conv.weight": torch.Size([20, 81, 3]),
    }
    with pytest.raises(ValueError, match="81 frames to 20"):
        pose_config_from_checkpoint(shapes)


def test_a_folder_converted_with_an_unmerged_lora_loads_it(original_release, tmp_path):
    """`--lora adapter` keeps the release's LoRA beside the base DiT; `load_pipeline` applies it, so the folder
    computes what the merged conversion does (without it the model would silently be plain Wan)."""
    import shutil

    from animatex.animate import load_pipeline
    from animatex.pipelines.lora import RELEASE_LORA_FILE

    root, dit = original_release
    torch.save(_official_checkpoint(dit, simple=False), tmp_path / "animate-x++.ckpt")
    folders = {}
    for mode in ("merge", "adapter"):
        options = ConvertOptions(dtype=torch.float32, transformer_overrides=POSE_FIELDS, lora_mode=mode)
        convert_to_pipeline(root, tmp_path / mode, official_ckpt=tmp_path / "animate-x++.ckpt", options=options)
        folders[mode] = tmp_path / mode
    assert (folders["adapter"] / RELEASE_LORA_FILE).is_file() and not (folders["merge"] / RELEASE_LORA_FILE).exists()
    shutil.copytree(folders["adapter"], tmp_path / "without")
    (tmp_path / "without" / RELEASE_LORA_FILE).unlink()

    def weights(folder):
        return load_pipeline(folder).transformer.blocks[1].attn1.to_q.weight.detach()

    merged = weights(folders["merge"])
    torch.testing.assert_close(weights(folders["adapter"]), merged, rtol=0, atol=1e-5)
    assert (weights(tmp_path / "without") - merged).abs().max() > 1e-2
