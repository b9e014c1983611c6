import inspect
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKLWan

from animatex.data.generate import generate
from animatex.errors import AnimatexError
from animatex.pipelines.presets import build_demo_vae
from animatex.training.config import VAEConfig, load_config
from animatex.training.vae import (
    latent_statistics,
    load_videos,
    main,
    reconstruct,
    sample_batch,
    save_atomic,
    train_vae,
    vae_loss,
)

STEPS = 16
WAN_LATENTS_MEAN = inspect.signature(AutoencoderKLWan.__init__).parameters["latents_mean"].default


@pytest.fixture(scope="module")
def vae_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two training clips and one held-out test clip, 5 frames of 32x32."""
    root = tmp_path_factory.mktemp("vae-data")
    generate(root, "anthro", 2, 0, size=32, num_frames=5, overwrite=True)
    generate(root, "human", 1, 0, subset="test", size=32, num_frames=5, append=True)
    return root


@pytest.fixture(scope="module")
def trained(vae_data: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("vae-run")
    args = VAEConfig(
        data=str(vae_data),
        steps=STEPS,
        size=16,  # the clips are 32x32: loading resizes them
        lr=1e-3,
        warmup=2,
        image_batch=2,
        video_every=0,  # single frames only; test_main_runs_from_the_command_line takes a video step
        eval_clips=1,
    )
    videos = load_videos(vae_data, 16, subset="train")
    fixed = sample_batch(videos, np.random.default_rng(123), 4, 1)
    vae = build_demo_vae(seed=0)
    before = vae_loss(vae, fixed, 1e-6, 0.5, torch.Generator().manual_seed(0))[0].item()
    result = train_vae(args, out, vae=vae, progress=False)
    after = vae_loss(result.vae, fixed, 1e-6, 0.5, torch.Generator().manual_seed(0))[0].item()
    return result, videos, before, after


def test_training_reduces_the_reconstruction_loss(trained):
    result, _, before, after = trained
    assert result.steps == STEPS and len(result.losses) == STEPS
    assert after < 0.9 * before, (before, after)  # measured: 0.649 -> 0.549


def test_latent_statistics_are_set_from_the_encoder(trained):
    result, videos, _, _ = trained
    config = result.vae.config
    assert len(config.latents_mean) == len(config.latents_std) == 16
    assert config.latents_mean != WAN_LATENTS_MEAN  # measured, not Wan2.1's own numbers
    # Normalised with the stored statistics, the encoder's latents of the training clips are ~N(0, 1).
    mean, std = latent_statistics(result.vae, videos)
    normalised_mean = (np.array(mean) - config.latents_mean) / np.array(config.latents_std)
    assert np.abs(normalised_mean).max() < 1e-3
    assert np.allclose(np.array(std) / np.array(config.latents_std), 1.0, atol=1e-3)


def test_saved_vae_reconstructs_identically(trained):
    result, videos, _, _ = trained
    loaded = AutoencoderKLWan.from_pretrained(result.folder)
    assert loaded.config.latents_std == result.vae.config.latents_std
    np.testing.assert_array_equal(reconstruct(loaded, videos[0]), reconstruct(result.vae, videos[0]))
    metrics = json.loads((result.folder.parent / "metrics.json").read_text())
    assert metrics["steps"] == STEPS and 0 < metrics["heldout_psnr"] < 100
    assert not list(result.folder.parent.glob(".vae.*"))  # no temp folders left by the atomic save


def test_atomic_save_replaces_an_existing_folder(tmp_path):
    first, second = build_demo_vae(seed=0), build_demo_vae(seed=1)
    save_atomic(first, tmp_path / "vae")
    save_atomic(second, tmp_path / "vae")
    loaded = AutoencoderKLWan.from_pretrained(tmp_path / "vae").state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in second.state_dict().items())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vae"]


def test_main_runs_from_the_command_line(vae_data, tmp_path, capsys):
    config = tmp_path / "vae.yaml"
    config.write_text(f"data: {vae_data}\nsteps: 1\nsize: 32\nimage_batch: 2\n")
    argv = ["--config", str(config), "--output", str(tmp_path / "run"), "--set", "eval_clips=1"]
    assert main(argv) == 0
    assert "held-out PSNR" in capsys.readouterr().out
    assert (tmp_path / "run" / "vae" / "config.json").is_file()
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["config"]["eval_clips"] == 1 and metrics["config"]["size"] == 32


@pytest.mark.parametrize("stage", ["stage1", "stage2", "stage3"])
def test_demo_vae_configs_load(stage):
    config = load_config(
        Path(__file__).resolve().parents[2] / "configs" / "demo-vae" / f"{stage}.yaml", schema=VAEConfig
    )
    assert config.posterior == "mode" and config.crop == 32


def test_vae_output_folder_of_a_user_is_refused(vae_data, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(AnimatexError, match="not made by animatex"):
        train_vae(VAEConfig(data=str(vae_data), steps=1, size=16), tmp_path, progress=False)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_mode_loss_is_deterministic_and_sampling_is_not():
    vae = build_demo_vae(0)
    pixels = torch.rand(1, 3, 1, 16, 16) * 2 - 1
    with torch.no_grad():
        vae.encoder.conv_out.bias.add_(1.0)  # a posterior with real spread, so samples differ from the mode
        losses = [
            vae_loss(vae, pixels, 1e-6, 0.5, torch.Generator().manual_seed(seed), posterior_mode=mode)[
                0
            ].item()
            for mode in (True, False)
            for seed in (0, 1)
        ]
    assert losses[0] == losses[1]
    assert losses[2] != losses[3]


def test_temporal_term_is_the_l1_between_frame_differences():
    vae = build_demo_vae(0)
    video = torch.rand(1, 3, 5, 16, 16) * 2 - 1
    with torch.no_grad():
        reconstruction = vae.decode(vae.encode(video).latent_dist.mode()).sample
        base, parts = vae_loss(vae, video, 0.0, 0.0, torch.Generator(), posterior_mode=True)
        total, with_temporal = vae_loss(vae, video, 0.0, 0.0, torch.Generator(), True, temporal_weight=2.0)
        image_loss, image_parts = vae_loss(vae, video[:, :, :1], 0.0, 0.0, torch.Generator(), True, 2.0)
    expected = (reconstruction.diff(dim=2) - video.diff(dim=2)).abs().mean()
    assert with_temporal["temporal"] == pytest.approx(expected.item(), rel=1e-5) and parts["temporal"] == 0.0
    assert total.item() == pytest.approx(base.item() + 2.0 * expected.item(), rel=1e-5)
    assert image_parts["temporal"] == 0.0 and torch.isfinite(image_loss)  # one frame: nothing to compare


def test_crops_are_windows_of_the_frames():
    videos = np.random.default_rng(0).integers(0, 256, (3, 6, 16, 16, 3), dtype=np.uint8)
    batch = sample_batch(videos, np.random.default_rng(1), 5, 5, crop=8)
    assert batch.shape == (5, 3, 5, 8, 8)
    pixels = ((videos.astype(np.float32) / 127.5) - 1.0).transpose(0, 4, 1, 2, 3)  # (N, 3, F, H, W)
    for window in batch.numpy():
        found = False
        for video in pixels:
            for flip in (False, True):
                v = video[..., ::-1] if flip else video
                for s in range(2):
                    for y in range(9):
                        for x in range(9):
                            if np.allclose(v[:, s : s + 5, y : y + 8, x : x + 8], window):
                                found = True
        assert found, "a crop must be an exact (possibly mirrored) window of one clip"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("crop: 12", "crop: input should be a multiple of 8"),
        ("crop: 24", "crop: 24 is larger than size 16"),
        ("chunk_frames: 7", "chunk_frames: must be 4k+1"),
        ("stepz: 7", "stepz: unknown key"),
        ("posterior: mean", "posterior:"),
    ],
)
def test_bad_vae_config_names_the_key(vae_data, tmp_path, text, key):
    path = tmp_path / "vae.yaml"
    path.write_text(f"data: {vae_data}\nsize: 16\n{text}\n")
    with pytest.raises(AnimatexError) as error:
        load_config(path, schema=VAEConfig)
    assert key in str(error.value)


def test_init_continues_from_a_pretrained_vae(trained, vae_data, tmp_path):
    result = trained[0]
    args = VAEConfig(data=str(vae_data), steps=1, lr=0.0, size=16, init=str(result.folder), eval_clips=0)
    continued = train_vae(args, tmp_path, progress=False)
    for name, value in result.vae.state_dict().items():
        torch.testing.assert_close(continued.vae.state_dict()[name], value, rtol=0, atol=0)


def test_video_chunks_default_to_the_whole_clip(vae_data, tmp_path, monkeypatch):
    import animatex.training.vae as vae_module

    lengths = []
    real = vae_module.sample_batch

    def spy(videos, rng, batch, frames, crop=None):
        lengths.append(frames)
        return real(videos, rng, batch, frames, crop)

    monkeypatch.setattr(vae_module, "sample_batch", spy)
    args = VAEConfig(data=str(vae_data), steps=2, size=16, video_every=1, video_batch=1, eval_clips=0)
    train_vae(args, tmp_path, progress=False)
    assert lengths == [5, 5]  # the fixture's clips have 5 frames
