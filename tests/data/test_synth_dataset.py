"""The on-disk clip format: writing, reading back, the index, and the synth command."""

import json

import numpy as np
import pytest

from animatex.cli import main
from animatex.data.dataset import ClipDataset, load_clip, read_index
from animatex.data.generate import generate
from animatex.data.world import make_case
from animatex.errors import AnimatexError

SIZE, FRAMES = 64, 9


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    generate(root, "anthro", 2, seed=4, subset="test", size=SIZE, num_frames=FRAMES)
    return root


def test_clip_round_trip(dataset):
    clip = ClipDataset(dataset)[1]
    case = make_case(4, "anthro", "test", 1, SIZE, FRAMES)
    np.testing.assert_array_equal(clip.reference, case.reference)  # png: lossless
    np.testing.assert_array_equal(clip.masks, case.masks)  # npz: lossless
    np.testing.assert_array_equal(clip.poses.keypoints, case.poses.keypoints)
    np.testing.assert_array_equal(clip.target_poses.keypoints, case.target_poses.keypoints)
    np.testing.assert_array_equal(clip.reference_pose.keypoints, case.reference_pose.keypoints)
    for name in ("driving", "target", "background"):
        got, want = getattr(clip, name), getattr(case, name)
        assert got.shape == want.shape
        # H.264 in yuv420p is lossy (chroma subsampling at sharp coloured edges): about 31 dB here.
        mse = ((got.astype(np.float64) - want) ** 2).mean()
        assert 10 * np.log10(255**2 / mse) > 28.0, name
    assert clip.caption == case.caption and clip.fps == 16.0
    assert clip.meta["background"] == case.meta["background"]
    assert clip.ground_truth is clip.target


def test_index_lists_clips_with_split_and_subset(dataset):
    records = read_index(dataset)
    assert [r["name"] for r in records] == ["anthro_test_s4_00000", "anthro_test_s4_00001"]
    assert all(r["split"] == "anthro" and r["subset"] == "test" and r["kind"] == "synthetic" for r in records)
    assert len(ClipDataset(dataset, split="anthro", subset="test")) == 2
    assert len(ClipDataset(dataset, subset="train")) == 0
    meta = json.loads((dataset / records[0]["path"] / "meta.json").read_text())
    assert meta["format_version"] == 1 and meta["num_frames"] == FRAMES


def test_refuses_non_empty_folder_and_appends_or_overwrites(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(AnimatexError, match="not empty"):
        generate(tmp_path, "human", 1, seed=0, size=32, num_frames=2)
    with pytest.raises(AnimatexError, match="refusing"):
        generate(tmp_path, "human", 1, seed=0, size=32, num_frames=2, overwrite=True)
    root = tmp_path / "ds"
    generate(root, "human", 1, seed=0, size=32, num_frames=2)
    with pytest.raises(AnimatexError, match="--append"):
        generate(root, "human", 1, seed=0, size=32, num_frames=2)
    with pytest.raises(AnimatexError, match="already has clips"):
        generate(root, "human", 1, seed=0, size=32, num_frames=2, append=True)
    generate(root, "human", 1, seed=1, size=32, num_frames=2, append=True)
    assert len(read_index(root)) == 2
    generate(root, "human", 1, seed=2, size=32, num_frames=2, overwrite=True)
    assert [r["name"] for r in read_index(root)] == ["human_train_s2_00000"]
    assert len(list((root / "clips").iterdir())) == 1


def test_load_clip_names_missing_files(tmp_path):
    with pytest.raises(AnimatexError, match="missing reference.png"):
        load_clip(tmp_path)
    with pytest.raises(AnimatexError, match="no index.jsonl"):
        ClipDataset(tmp_path)


def test_synth_command(tmp_path, capsys):
    out = tmp_path / "cli"
    argv = [
        "synth",
        "--out",
        str(out),
        "--split",
        "human",
        "--num",
        "1",
        "--seed",
        "3",
        "--size",
        "32",
        "--frames",
        "3",
    ]
    assert main(argv) == 0
    assert "wrote 1 human/train clips" in capsys.readouterr().out
    assert main(argv) == 2
    assert "--append" in capsys.readouterr().err
    assert main([*argv[:-4], "--size", "30", "--frames", "3", "--overwrite"]) == 2
    assert "multiple of 16" in capsys.readouterr().err
    assert (out / "index.jsonl").is_file()  # the bad size was refused before anything was deleted
