"""`animatex animate` on a driving video longer than the model's window."""

from animatex.cli import main
from animatex.io import read_video


def _args(case, out, model, *extra):
    return [
        "animate", "--reference", str(case / "reference.png"), "--model", str(model), "--steps", "1",
        "--size", "32x32", "--driving", str(case / "poses.npz"), "-o", str(out), *extra,
    ]  # fmt: skip


def test_windows_write_exactly_the_frames_asked_for(synth_cases, tiny_model_dir, tmp_path, capsys):
    case = synth_cases["anthro"]  # 9 frames
    runs = [
        ("chain", "5", ["--overlap", "1"], 9),  # 2 windows
        ("chain", "5", ["--colour-match"], 7),  # 2 windows, the last padded
        ("context", "9", [], 8),  # 1 padded window (no rounding down to 4k+1)
    ]
    for strategy, window, extra, frames in runs:
        out = tmp_path / f"{strategy}{frames}.mp4"
        args = _args(
            case,
            out,
            tiny_model_dir,
            "--window-strategy",
            strategy,
            "--window",
            window,
            "--frames",
            str(frames),
        )
        assert main([*args, *extra]) == 0
        video, _ = read_video(out)
        assert video.shape == (frames, 32, 32, 3)
        assert f"{out}: {frames} frames" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chain7.mp4", "chain9.mp4", "context8.mp4"]


def test_bad_window_settings_are_one_line_errors(synth_cases, tiny_model_dir, tmp_path, capsys):
    case = synth_cases["anthro"]
    out = tmp_path / "out.mp4"
    assert main(_args(case, out, tiny_model_dir, "--window-strategy", "chain")) == 2
    assert "needs a window length" in capsys.readouterr().err
    assert (
        main(
            _args(case, out, tiny_model_dir, "--window", "5", "--window-strategy", "chain", "--overlap", "2")
        )
        == 2
    )
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert errors == ["animatex animate: error: chaining carries 4j+1 frames (1, 5, 9, ...), got overlap 2"]
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == []
