"""`animatex data prepare`: real videos become clips in the synthetic format (real pose detection)."""

import json

import numpy as np
import pytest

from animatex.cli import main
from animatex.data.dataset import ClipDataset
from animatex.data.prepare import caption_for, fit_frames, prepare_videos
from animatex.data.world import make_case
from animatex.errors import AnimatexError
from animatex.io import write_video


def test_fit_frames_crops_and_resizes():
    frames = np.random.default_rng(0).integers(0, 255, (2, 70, 100, 3), dtype=np.uint8)
    assert fit_frames(frames, None).shape == (2, 64, 96, 3)
    np.testing.assert_array_equal(fit_frames(frames, None), frames[:, 3:67, 2:98])
    assert fit_frames(frames, 32).shape == (2, 32, 32, 3)
    with pytest.raises(AnimatexError, match="multiple of 16"):
        fit_frames(frames, 40)


def test_captions_sidecar_then_table_then_default(tmp_path):
    a, b, c = tmp_path / "a.mp4", tmp_path / "b.mp4", tmp_path / "c.mp4"
    a.with_suffix(".txt").write_text("a cat dances\n")
    (tmp_path / "captions.json").write_text(json.dumps({"b.mp4": "a dog jumps", "a.mp4": "ignored"}))
    assert [caption_for(v, "default") for v in (a, b, c)] == ["a cat dances", "a dog jumps", "default"]


def test_prepare_detects_poses_of_a_real_detector(tmp_path):
    # A rendered human (not a stick figure) that the bundled MediaPipe model must find.
    case = make_case(2, "human", "train", 0, 256, 4, template="man", family="wave")
    videos = tmp_path / "videos"
    write_video(videos / "man waving.mp4", case.driving, 16)
    (videos / "man waving.txt").write_text("a man is waving, the room stays still.")
    out = tmp_path / "real"
    assert main(["data", "prepare", str(videos), "--out", str(out), "--size", "128"]) == 0
    dataset = ClipDataset(out, kind="real")
    assert len(dataset) == 1 and dataset.records[0]["name"] == "real_man_waving"
    clip = dataset[0]
    assert clip.caption == "a man is waving, the room stays still."
    assert (
        clip.driving.shape == (4, 128, 128, 3) and clip.target is None and clip.ground_truth is clip.driving
    )
    assert clip.meta["self_driven"] and clip.meta["source"] == "man waving.mp4"
    np.testing.assert_array_equal(clip.reference_pose.keypoints[0], clip.poses.keypoints[0])
    visible = clip.poses.visible()[:, :18]
    assert visible[:, :14].all()
    error = np.linalg.norm(clip.poses.body[..., :2] - case.poses.body[..., :2] * 0.5, axis=-1)
    assert np.median(error[visible]) < 5.0  # pixels at 128x128


def test_prepare_refuses_an_empty_folder(tmp_path):
    with pytest.raises(AnimatexError, match="no videos"):
        prepare_videos(tmp_path, tmp_path / "out")
