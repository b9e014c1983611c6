"""`animatex ui` refuses bad options in one line, before loading anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from animatex.cli import main


def run(argv: list[str]) -> int:
    """main's exit status, whether it returns it or argparse exits with it."""
    try:
        return main(argv)
    except SystemExit as stop:
        return int(stop.code)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--port", "0"], "animatex ui: error: --port must be between 1 and 65535, got 0"),
        (
            ["--max-upload-mb", "-1"],
            "animatex ui: error: argument --max-upload-mb: must be a positive number",
        ),
        (["--memory", "fp9"], "animatex ui: error: unknown memory mode 'fp9'"),
        (["--memory", "model-offload"], "animatex ui: error: --memory model-offload moves models between"),
    ],
)
def test_bad_options_are_one_line(options: list[str], message: str, capsys: pytest.CaptureFixture) -> None:
    assert run(["ui", *options]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(message) and "\n" not in err


def test_out_must_be_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    afile = tmp_path / "file"
    afile.write_text("x")
    assert run(["ui", "--out", str(afile)]) == 2
    assert "exists and is not a folder" in capsys.readouterr().err


def test_memory_mode_reaches_the_loaded_pipeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--memory vae-tiling` loads the pipeline with VAE tiling on, and the page says which mode is active."""
    pytest.importorskip("gradio", reason="the web app needs gradio (make install installs the ui extra)")
    import animatex.ui.app as app_module

    built = {}
    original = app_module.build_app

    def build_app(studio, examples, *, model_label):
        built["studio"], built["app"] = studio, original(studio, examples, model_label=model_label)
        return built["app"]

    monkeypatch.setattr(app_module, "build_app", build_app)
    monkeypatch.setattr(app_module, "launch", lambda app, **kwargs: None)  # no server
    assert run(["ui", "--out", str(tmp_path / "ui"), "--memory", "vae-tiling"]) == 0
    assert built["studio"].pipe.vae.use_tiling and built["studio"].memory == "vae-tiling"
    info = next(
        block for block in built["app"].blocks.values() if getattr(block, "elem_id", None) == "model-info"
    )
    assert "memory mode `vae-tiling`" in info.value


def test_a_gguf_transformer_reaches_the_loaded_pipeline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """`--gguf` runs the app on the quantised transformer (as `animatex animate --gguf`), and the page names it."""
    pytest.importorskip("gradio", reason="the web app needs gradio (make install installs the ui extra)")
    pytest.importorskip("gguf", reason="GGUF needs the gguf package (make install installs it)")
    import animatex.ui.app as app_module
    from animatex.pipelines.tiny import build_tiny_pipeline

    model = tmp_path / "model"
    build_tiny_pipeline(seed=0).save_pretrained(model)
    dit = tmp_path / "dit-Q8_0.gguf"
    assert main(["quantize", "--model", str(model), "--type", "Q8_0", "-o", str(dit)]) == 0
    built = {}
    monkeypatch.setattr(app_module, "build_app", lambda studio, examples, *, model_label: built.update(
        studio=studio, label=model_label))  # fmt: skip
    monkeypatch.setattr(app_module, "launch", lambda app, **kwargs: None)  # no server
    assert run(["ui", "--out", str(tmp_path / "ui"), "--model", str(model), "--gguf", str(dit)]) == 0
    assert built["studio"].pipe.transformer.hf_quantizer is not None  # diffusers' GGUF layers
    assert built["label"] == f"{model} + {dit}"
    capsys.readouterr()
    assert run(["ui", "--out", str(tmp_path / "ui"), "--model", str(model), "--gguf", str(tmp_path / "no.gguf")]) == 2
    assert "no.gguf" in capsys.readouterr().err
