"""`animatex quantize` writes a GGUF file that `animatex animate --gguf` runs (docs/weights.md)."""

import numpy as np

from animatex.cli import main
from animatex.io import read_video


def test_quantize_then_animate_with_the_gguf(synth_cases, tiny_model_dir, tmp_path, capsys):
    dit = tmp_path / "dit-Q8_0.gguf"
    assert main(["quantize", "--model", str(tiny_model_dir), "--type", "Q8_0", "-o", str(dit)]) == 0
    out = capsys.readouterr().out
    assert dit.is_file() and f"{dit}: " in out and "in Q8_0" in out and f"--gguf {dit}" in out

    anthro, human = synth_cases["anthro"], synth_cases["human"]
    videos = {}
    for name, extra in (("plain", []), ("gguf", ["--gguf", str(dit)])):
        videos[name] = tmp_path / f"{name}.mp4"
        args = [
            "animate", "--reference", str(anthro / "reference.png"), "--driving", str(human / "poses.npz"),
            "--model", str(tiny_model_dir), "--steps", "1", "--size", "64x64", "--frames", "5", "--align", "none",
            "--guidance", "1", "-o", str(videos[name]), *extra,
        ]  # fmt: skip
        assert main(args) == 0
    plain, quantised = (read_video(videos[name])[0].astype(float) for name in ("plain", "gguf"))
    assert plain.shape == quantised.shape == (5, 64, 64, 3)
    assert np.abs(plain - quantised).mean() < 2  # Q8_0: within a level or two of 255 on average
