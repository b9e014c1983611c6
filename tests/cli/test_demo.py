import pytest

from animatex.cli import main
from animatex.io import read_video

FAST = ["--frames", "5", "--size", "32", "--steps", "1"]


def test_demo_with_the_untrained_fallback_writes_both_videos(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no weights/animatex-demo here nor in the "checkout": the tiny random pipeline
    monkeypatch.setattr("animatex.animate.CHECKOUT_ROOT", tmp_path)
    assert main(["demo", "--out", "outputs", *FAST]) == 0
    out = capsys.readouterr().out
    assert "TINY" in out and "RANDOMLY INITIALISED" in out and "weights/animatex-demo" in out
    assert "an orange cartoon cat" in out  # the held-out anthro case and its caption as prompt
    video, fps = read_video(tmp_path / "outputs" / "demo.mp4")
    assert video.shape == (5, 32, 32, 3) and fps == pytest.approx(16)
    grid, _ = read_video(tmp_path / "outputs" / "demo_grid.mp4")
    assert grid.shape[0] == 5 and grid.shape[2] == 4 * 32
    assert "outputs/demo.mp4" in out and "outputs/demo_grid.mp4" in out


def test_demo_with_a_model_folder_reruns_over_its_outputs(tiny_model_dir, tmp_path, capsys):
    out_dir = tmp_path / "outputs"
    (out_dir / "demo.mp4").parent.mkdir()
    (out_dir / "demo.mp4").write_bytes(b"an earlier demo")
    assert main(["demo", "--out", str(out_dir), "--model", str(tiny_model_dir), *FAST]) == 0
    out = capsys.readouterr().out
    assert f"model: {tiny_model_dir}" in out and "RANDOMLY INITIALISED" not in out
    assert read_video(out_dir / "demo.mp4")[0].shape == (5, 32, 32, 3)
    assert main(["demo", "--out", str(out_dir), "--model", str(tiny_model_dir), *FAST]) == 0


def test_demo_missing_model_folder_is_a_clean_error(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--model", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert "model folder not found" in err and "Traceback" not in err
