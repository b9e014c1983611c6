import numpy as np
import pytest
from skimage import data

from animatex.cli import main
from animatex.io import read_video, write_image, write_video
from animatex.pose.sequence import PoseSequence


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clip")
    frames = [np.roll(data.astronaut(), 4 * i, axis=1) for i in range(4)]
    return write_video(folder / "astronaut.mp4", frames, fps=8)


def test_pose_extract_writes_poses_and_rendering(clip, tmp_path, capsys):
    out, render = tmp_path / "poses.npz", tmp_path / "pose.mp4"
    assert main(["pose", "extract", str(clip), "-o", str(out), "--render", str(render)]) == 0
    seq = PoseSequence.load(out)
    assert (len(seq), seq.width, seq.height, seq.fps) == (4, 512, 512, 8)
    assert seq.visible()[:, 0].all()  # the nose in every frame
    video, fps = read_video(render)
    assert video.shape == (4, 512, 512, 3) and fps == pytest.approx(8)
    assert video.max() > 0
    assert "4 frames at 8 fps" in capsys.readouterr().out


def test_pose_extract_refuses_to_overwrite(clip, tmp_path, capsys):
    out = tmp_path / "poses.npz"
    out.write_bytes(b"keep me")
    assert main(["pose", "extract", str(clip), "-o", str(out), "--no-smooth", "--no-track"]) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert out.read_bytes() == b"keep me"
    args = ["pose", "extract", str(clip), "-o", str(out), "--max-frames", "2", "--overwrite", "--no-smooth"]
    assert main(args) == 0
    assert len(PoseSequence.load(out)) == 2


def test_pose_extract_clean_errors(tmp_path, capsys):
    coffee = write_image(tmp_path / "coffee.png", data.coffee())
    assert main(["pose", "extract", str(coffee), "-o", str(tmp_path / "p.npz")]) == 2
    assert "no person found in" in capsys.readouterr().err
    assert main(["pose", "extract", str(tmp_path / "missing.mp4"), "-o", str(tmp_path / "p.npz")]) == 2
    assert "missing.mp4" in capsys.readouterr().err
    assert main(["pose", "extract", str(coffee), "-o", str(tmp_path / "p.json")]) == 2
    assert ".npz" in capsys.readouterr().err
    assert not (tmp_path / "p.npz").exists()
