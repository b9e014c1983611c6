import numpy as np
import pytest
import torch
from diffusers import AutoencoderKLWan
from safetensors import safe_open
from safetensors.torch import load_file

from animatex.errors import AnimatexError
from animatex.models.transformer_animatex import POSE_MODULES
from animatex.pipelines import AnimateXPipeline
from animatex.pipelines.presets import (
    DEMO_VAE_CONFIG,
    PIPELINE_PRESETS,
    build_demo_vae,
    build_pipeline,
    save_pipeline,
)
from animatex.pipelines.tiny import minilm_tokenizer_path

DEMO_BUDGET_BYTES = 60_000_000  # the shipped demo folder's safetensors, all components together


@pytest.fixture(scope="module")
def demo_pipe():
    pipe = build_pipeline("demo", seed=0)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _zero_init_params(pipe) -> list[torch.Tensor]:
    return [
        p
        for name in POSE_MODULES
        if getattr(pipe.transformer, name, None) is not None
        for p in getattr(pipe.transformer, name).parameters()
        if not p.any()
    ]


def test_presets_are_listed_and_unknown_names_raise():
    assert {"tiny", "demo"} <= set(PIPELINE_PRESETS)
    with pytest.raises(AnimatexError, match="Unknown pipeline preset 'huge'"):
        build_pipeline("huge")


def test_tiny_preset_keeps_the_paper_initialisation_and_runs(make_inputs, run):
    pipe = build_pipeline("tiny", seed=3)
    again = build_pipeline("tiny", seed=3)
    pipe.set_progress_bar_config(disable=True)
    # randomize_zero_init=False: the zero-initialised injection layers stay zero, as a trainer wants them.
    assert _zero_init_params(pipe)
    state, state_again = pipe.transformer.state_dict(), again.transformer.state_dict()
    assert all(torch.equal(state[k], state_again[k]) for k in state)
    frames = run(pipe, **make_inputs(num_frames=5, height=16, width=16), num_inference_steps=1)
    assert frames.shape == (1, 5, 16, 16, 3) and np.isfinite(frames).all()


def test_tiny_preset_takes_overrides_and_a_pretrained_vae(tmp_path):
    vae = build_demo_vae(seed=1)
    vae.register_to_config(latents_mean=[0.5] * 16, latents_std=[2.0] * 16)
    vae.save_pretrained(tmp_path / "vae")
    pipe = build_pipeline("tiny", vae=tmp_path / "vae", num_layers=3, vae_scale_factor_spatial=4)
    assert pipe.transformer.config.num_layers == 3
    assert list(pipe.vae.config.latents_mean) == [0.5] * 16
    loaded, saved = pipe.vae.state_dict(), vae.state_dict()
    assert all(torch.equal(loaded[k], saved[k]) for k in saved)


def test_demo_components_fit_together(demo_pipe):
    transformer, clip = demo_pipe.transformer.config, demo_pipe.image_encoder.config
    assert clip.hidden_size == transformer.image_dim
    assert clip.projection_dim == transformer.motion_embed_dim
    assert demo_pipe.text_encoder.config.hidden_size == transformer.text_dim == 384
    assert {k: demo_pipe.vae.config[k] for k in DEMO_VAE_CONFIG} == DEMO_VAE_CONFIG
    assert demo_pipe.image_processor.crop_size == {"height": clip.image_size, "width": clip.image_size}
    # The demo starts from the paper's initialisation too.
    assert _zero_init_params(demo_pipe)


def test_demo_text_encoder_is_the_pretrained_minilm_rounded_to_half(demo_pipe):
    pretrained = load_file(minilm_tokenizer_path() / "model.safetensors")
    state = demo_pipe.text_encoder.state_dict()
    for key in ("embeddings.word_embeddings.weight", "encoder.layer.5.output.dense.weight"):
        file_key = key if key in pretrained else f"bert.{key}"
        assert torch.equal(state[key], pretrained[file_key].half().float())
    assert not any(p.requires_grad for p in demo_pipe.text_encoder.parameters())


def test_demo_preset_runs_one_step(demo_pipe, make_inputs, run):
    inputs = make_inputs(num_frames=5, height=32, width=32)
    frames = run(demo_pipe, **inputs, num_inference_steps=1, guidance_scale=1.0)
    assert frames.shape == (1, 5, 32, 32, 3) and np.isfinite(frames).all()


def test_demo_rejects_a_vae_the_pose_modules_cannot_read(tmp_path):
    build_demo_vae().save_pretrained(tmp_path / "vae4")
    with pytest.raises(AnimatexError, match="out_channels"):
        build_pipeline("demo", vae=tmp_path / "vae4", out_channels=8, in_channels=28)
    wan_layout = {**DEMO_VAE_CONFIG, "dim_mult": [1, 2, 2, 2], "temperal_downsample": [False, True, True]}
    AutoencoderKLWan(**{**wan_layout, "scale_factor_spatial": 8}).save_pretrained(tmp_path / "vae8")
    with pytest.raises(AnimatexError, match="need 4x spatial / 4x temporal compression, got 8x / 4x"):
        build_pipeline("demo", vae=tmp_path / "vae8")
    with pytest.raises(AnimatexError, match="need 8x spatial"):
        build_pipeline("tiny", vae=tmp_path / "vae4")
    with pytest.raises(AnimatexError, match="text_dim"):
        build_pipeline("demo", text_dim=256)


def test_demo_folder_fits_the_budget_and_reloads_exactly(demo_pipe, tmp_path):
    folder = save_pipeline(demo_pipe, tmp_path / "demo")
    files = sorted(folder.rglob("*.safetensors"))
    assert sum(f.stat().st_size for f in files) <= DEMO_BUDGET_BYTES
    with safe_open(folder / "text_encoder" / "model.safetensors", "pt") as f:
        assert f.get_slice("embeddings.word_embeddings.weight").get_dtype() == "F16"
    assert demo_pipe.text_encoder.dtype == torch.float32  # saving leaves the live pipeline as it was

    reloaded = AnimateXPipeline.from_pretrained(folder, dtype=torch.float32)
    for name in ("text_encoder", "transformer", "image_encoder", "vae"):
        before, after = getattr(demo_pipe, name).state_dict(), getattr(reloaded, name).state_dict()
        assert before.keys() == after.keys(), name
        assert all(torch.equal(before[k], after[k]) for k in before), name
