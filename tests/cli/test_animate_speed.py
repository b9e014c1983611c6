"""`--memory`, `--cache`, `--attention`, `--batch-guidance` and `animatex cache calibrate` from the command line
(issue #21)."""

from __future__ import annotations

import json
import shutil

from animatex.cli import main

SIZE = 64


def _args(case, out, model, *extra):
    return [
        "animate", "--reference", str(case / "reference.png"), "--model", str(model), "--steps", "3",
        "--size", f"{SIZE}x{SIZE}", "-o", str(out), "--driving", str(case / "poses.npz"), "--align", "none", *extra,
    ]  # fmt: skip


def test_memory_and_cache_options_run(synth_cases, tiny_model_dir, tmp_path, capsys):
    human = synth_cases["human"]
    args = _args(
        human, tmp_path / "out.mp4", tiny_model_dir, "--memory", "group-offload+vae-tiling", "--cache", "fbc"
    )
    assert main(args) == 0
    assert "Traceback" not in capsys.readouterr().err


def test_accelerator_only_memory_mode_is_refused_in_one_line(synth_cases, tiny_model_dir, tmp_path, capsys):
    args = _args(synth_cases["human"], tmp_path / "out.mp4", tiny_model_dir, "--memory", "model-offload")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "accelerator" in err and "Traceback" not in err and "Loading" not in err  # refused before loading


def test_calibrate_then_magcache(synth_cases, tiny_model_dir, tmp_path, capsys):
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    args = _args(synth_cases["human"], tmp_path / "out.mp4", model, "--cache", "magcache")
    assert main(args) == 2
    assert "calibrate" in capsys.readouterr().err
    calibrate = ["cache", "calibrate", "--model", str(model), "--steps", "3", "--size", "64", "--frames", "9"]
    assert main(calibrate) == 0
    stored = json.loads((model / "mag_cache.json").read_text())
    assert stored["num_inference_steps"] == 3 and len(stored["ratios"]) == 3
    assert main(calibrate) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(args) == 0


def test_pab_and_fastercache_need_one_transformer_call_a_step(synth_cases, tiny_model_dir, tmp_path, capsys):
    """They run without guidance and with batched guidance (one forward a step) and are refused in one line when
    the guidance branches run one forward each."""
    human = synth_cases["human"]
    for spec in ("pab", "fastercache:3"):
        for extra in (("--guidance", "1"), ("--guidance", "3", "--batch-guidance")):
            assert (
                main(
                    _args(human, tmp_path / "ok.mp4", tiny_model_dir, "--cache", spec, "--overwrite", *extra)
                )
                == 0
            )
        args = _args(human, tmp_path / "cfg.mp4", tiny_model_dir, "--cache", spec, "--guidance", "3",
                     "--no-batch-guidance")  # fmt: skip
        assert main(args) == 2
        err = capsys.readouterr().err
        assert "--guidance 1" in err and "Traceback" not in err
        assert not (tmp_path / "cfg.mp4").exists()


def test_attention_backend_and_unbatched_guidance_reach_the_pipeline(
    synth_cases, tiny_model_dir, tmp_path, capsys, monkeypatch
):
    from animatex.pipelines import AnimateXPipeline

    seen = {}
    call = AnimateXPipeline.__call__

    def spy(pipe, *args, **kwargs):
        seen["batch_guidance"] = kwargs["batch_guidance"]
        seen["backend"] = pipe.transformer.blocks[0].attn2.processor._attention_backend
        return call(pipe, *args, **kwargs)

    monkeypatch.setattr(AnimateXPipeline, "__call__", spy)
    extra = ("--attention", "_native_flash", "--no-batch-guidance", "--guidance", "2")
    try:
        assert main(_args(synth_cases["human"], tmp_path / "out.mp4", tiny_model_dir, *extra)) == 0
    finally:
        from diffusers.models.attention_dispatch import AttentionBackendName, _AttentionBackendRegistry

        _AttentionBackendRegistry.set_active_backend(AttentionBackendName.NATIVE)  # process-wide
    assert seen == {"batch_guidance": False, "backend": "_native_flash"}
    assert "Traceback" not in capsys.readouterr().err
