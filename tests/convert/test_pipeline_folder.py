"""`animatex convert` end to end on a tiny Wan2.1 release in the original layout."""

import json

import pytest
import torch

from animatex.cli import main
from animatex.convert.pipeline_folder import ConvertOptions, convert_to_pipeline
from animatex.models import ANIMATEX_PRESETS

POSE_FIELDS = {
    k: v for k, v in ANIMATEX_PRESETS["tiny"].items() if k.startswith(("pose_", "motion_", "keypoint_"))
}


def test_convert_original_release_loads_as_a_pipeline(original_release, tmp_path):
    from animatex.pipelines.pipeline_animatex import AnimateXPipeline

    root, dit = original_release
    out = tmp_path / "pipe"
    options = ConvertOptions(dtype=torch.float32, max_shard_bytes=20_000, transformer_overrides=POSE_FIELDS)
    convert_to_pipeline(root, out, options=options)

    index = json.loads((out / "transformer" / "diffusion_pytorch_model.safetensors.index.json").read_text())
    assert len(set(index["weight_map"].values())) > 1  # the 20 kB cap forced several shards
    pipe = AnimateXPipeline.from_pretrained(out)
    assert pipe.scheduler.config.shift == 5.0
    # The release's clip length and area: long videos run in 81-frame windows, the default size is 480p.
    assert pipe.config.default_window_frames == 81 and pipe.config.default_max_area == 832 * 480
    assert pipe.config.sigma_schedule == "wan"  # the release's noise levels (DiffSynth's Wan sampler)
    torch.testing.assert_close(pipe.transformer.blocks[1].norm2.weight, dit["blocks.1.norm3.weight"])
    torch.testing.assert_close(
        pipe.transformer.blocks[0].attn2.add_k_proj.weight, dit["blocks.0.cross_attn.k_img.weight"]
    )
    assert pipe.text_encoder.config.d_model == 32 and pipe.image_encoder.config.hidden_size == 32
    assert pipe.image_encoder.vision_model.embeddings.position_embedding.weight.shape == (17, 32)


def test_convert_refuses_a_used_folder_and_a_wrong_dir(original_release, tmp_path):
    root, _ = original_release
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("x")
    with pytest.raises(ValueError, match="not empty and is not an animatex pipeline folder"):
        convert_to_pipeline(root, tmp_path / "used", overwrite=True)
    assert (tmp_path / "used" / "x").read_text() == "x"
    with pytest.raises(ValueError, match="neither a Wan2.1"):
        convert_to_pipeline(tmp_path / "used", tmp_path / "new")


def test_convert_keeps_a_folder_the_user_made_when_it_fails(original_release, tmp_path, monkeypatch, capsys):
    from animatex.convert import pipeline_folder

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pipeline_folder, "convert_original_components", fail)
    root, _ = original_release
    out = tmp_path / "mine"
    out.mkdir()
    options = ["--dtype", "fp32", "--max-shard-gb", "0.00002"]
    assert main(["convert", "--wan-dir", str(root), "--out", str(out), *options]) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == (  # notes about the tiny model may come before
        f"animatex convert: error: could not write {out}: no space left on device; free some disk space or "
        "write to another disk. Nothing was written"
    )
    assert out.is_dir() and list(out.iterdir()) == [] and sorted(tmp_path.iterdir()) == [out]


def test_convert_fills_an_empty_folder_and_replaces_a_pipeline_only_with_overwrite(
    original_release, tmp_path
):
    root, _ = original_release
    out = tmp_path / "mine"
    out.mkdir()
    inode = out.stat().st_ino
    options = ConvertOptions(dtype=torch.float32, transformer_overrides=POSE_FIELDS)
    convert_to_pipeline(root, out, options=options)
    assert out.stat().st_ino == inode and (out / "model_index.json").is_file()  # the same folder, filled
    with pytest.raises(ValueError, match="already holds a pipeline; pass --overwrite"):
        convert_to_pipeline(root, out, options=options)
    (out / "stale.txt").write_text("from the earlier conversion")
    convert_to_pipeline(root, out, options=options, overwrite=True)
    assert (out / "model_index.json").is_file() and not (out / "stale.txt").exists()
    assert sorted(tmp_path.iterdir()) == [out]  # no temporary or old folder left beside it


def test_cli_reports_a_missing_file_cleanly(tmp_path, capsys):
    code = main(["convert", "--wan-dir", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")])
    assert code == 2
    assert "not a folder" in capsys.readouterr().err


def test_generated_temporal_downsample_equals_the_model_initialisation():
    """The one IPI tensor no official file fills is written with the model's own initial value."""
    from animatex.convert.pipeline_folder import _temporal_downsample_init
    from animatex.models import build_transformer

    model = build_transformer("tiny")
    conv = model.pose_indicator.temporal_downsample
    generated = _temporal_downsample_init(conv.weight.shape)
    torch.testing.assert_close(generated["pose_indicator.temporal_downsample.weight"], conv.weight.detach())
    torch.testing.assert_close(generated["pose_indicator.temporal_downsample.bias"], conv.bias.detach())
