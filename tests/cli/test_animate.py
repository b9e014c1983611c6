from pathlib import Path

import numpy as np
import pytest

from animatex.animate import animation_grid, make_grid, parse_size, retarget_poses
from animatex.cli import COMMANDS, main
from animatex.data.dataset import load_clip
from animatex.errors import AnimatexError
from animatex.io import read_video
from animatex.pose.kinematics import ROOT

SIZE = 64  # output size: the cases are 128 px so the pose detector finds the human reference


def _args(case, out, model, *extra):
    return [
        "animate", "--reference", str(case / "reference.png"), "--model", str(model), "--steps", "1",
        "--size", f"{SIZE}x{SIZE}", "-o", str(out), *extra,
    ]  # fmt: skip


def test_animate_driving_video_end_to_end(synth_cases, tiny_model_dir, tmp_path, capsys):
    case = synth_cases["human"]
    out, grid = tmp_path / "out.mp4", tmp_path / "grid.mp4"
    args = _args(case, out, tiny_model_dir, "--driving", str(case / "driving.mp4"), "--align", "bones")
    assert main([*args, "--grid", str(grid), "--prompt", "a child waves, snow falls behind it"]) == 0
    captured = capsys.readouterr()
    assert "no body pose found" not in captured.err  # the human reference's pose was detected and used

    video, fps = read_video(out)
    assert video.shape == (9, SIZE, SIZE, 3) and fps == pytest.approx(16)
    assert f"{out}: 9 frames at 16 fps, {SIZE}x{SIZE}" in captured.out
    # The plan comes before the work: size, length, steps, guidance branches and the IPI's compression.
    plan = f"plan: {SIZE}x{SIZE} (as asked), 9 frames at 16 fps (0.6 s), 1 steps x 2 guidance branches, IPI: the any-length"
    assert plan in captured.out and captured.out.index(plan) < captured.out.index(f"{out}: 9 frames")
    plan_line = next(line for line in captured.out.splitlines() if line.startswith("plan: "))
    assert plan_line.endswith(" s on cpu (estimate)") and ", ~" in plan_line  # the time from FLOPs
    panels, grid_fps = read_video(grid)
    bar = panels.shape[1] - SIZE
    assert (
        panels.shape[0] == 9
        and panels.shape[2] == 4 * SIZE
        and 0 < bar < SIZE
        and grid_fps == pytest.approx(16)
    )
    # Panel 1 is the reference (resized), panel 3 the drawn pose, panel 4 the written result.
    clip = load_clip(case)
    reference = clip.reference[::2, ::2].astype(float)
    assert np.abs(panels[:, bar:, :SIZE].astype(float) - reference).mean() < 12
    assert panels[:, bar:, 2 * SIZE : 3 * SIZE].max() > 100
    assert np.abs(panels[:, bar:, 3 * SIZE :].astype(float) - video.astype(float)).mean() < 6


def test_animate_pose_file_with_undetectable_reference(synth_cases, tiny_model_dir, tmp_path, capsys):
    anthro, human = synth_cases["anthro"], synth_cases["human"]
    out = tmp_path / "out.mp4"
    out.write_bytes(b"old")
    args = _args(anthro, out, tiny_model_dir, "--driving", str(human / "poses.npz"), "--frames", "7")
    assert main([*args, "--guidance", "1", "--overwrite"]) == 0
    err = capsys.readouterr().err
    # A cartoon cat has no detectable body: align falls back to none, with a note, not an error.
    assert "no body pose found" in err and err.count("align none") == 1
    assert "using the first 5 of 7 frames" in err
    assert "Traceback" not in err
    video, fps = read_video(out)
    assert video.shape == (5, SIZE, SIZE, 3) and fps == pytest.approx(16)


def test_animate_ti2v_task(synth_cases, tiny_model_dir, tmp_path, capsys):
    case = synth_cases["human"]
    out = tmp_path / "ti2v.mp4"
    args = _args(case, out, tiny_model_dir, "--driving", str(case / "poses.npz"), "--task", "ti2v")
    assert main([*args, "--frames", "5", "--guidance", "1", "--prompt", "snow falls on a quiet street"]) == 0
    assert "note" not in capsys.readouterr().err  # ti2v needs no reference pose, so nothing falls back
    assert read_video(out)[0].shape == (5, SIZE, SIZE, 3)
    # Guidance on the prompt alone changes the result (the text branch differs from the empty prompt's).
    guided = tmp_path / "ti2v_text_guidance.mp4"
    args = _args(case, guided, tiny_model_dir, "--driving", str(case / "poses.npz"), "--task", "ti2v")
    assert main([*args, "--frames", "5", "--guidance", "1", "--text-guidance", "8", "--prompt",
                 "snow falls on a quiet street"]) == 0  # fmt: skip
    assert np.abs(read_video(guided)[0].astype(float) - read_video(out)[0].astype(float)).max() > 0


@pytest.mark.parametrize("mode", ["none", "global", "bones"])
def test_retarget_modes(synth_cases, mode):
    clip = load_clip(synth_cases["anthro"])
    reference = clip.reference_pose
    aligned, used = retarget_poses(clip.poses, reference, mode)
    assert used == mode and len(aligned) == len(clip.poses)
    neck = aligned.body[0, ROOT, :2]
    if mode == "none":
        np.testing.assert_array_equal(aligned.keypoints, clip.poses.keypoints)
    else:
        # Retargeted poses live in the reference's image; bones starts the neck exactly on the reference's.
        assert (aligned.width, aligned.height) == (reference.width, reference.height)
        assert not np.allclose(aligned.body[..., :2], clip.poses.body[..., :2])
    if mode == "bones":
        np.testing.assert_allclose(neck, reference.body[0, ROOT, :2], atol=1e-3)


def test_retarget_without_reference_pose_falls_back(synth_cases):
    poses = load_clip(synth_cases["human"]).poses
    with pytest.warns(UserWarning, match="using align none"):
        aligned, used = retarget_poses(poses, None, "bones")
    assert used == "none" and aligned is poses
    with pytest.raises(AnimatexError, match="unknown align mode"):
        retarget_poses(poses, None, "stretch")


def test_make_grid_layout():
    video = np.full((3, 16, 20, 3), 200, np.uint8)
    picture = np.zeros((16, 10, 3), np.uint8)
    grid = make_grid([("a", picture), ("b", video)], bar_height=16)
    assert grid.shape == (3, 32, 30, 3)
    assert (grid[:, 16:, :10] == 0).all() and (grid[:, 16:, 10:] == 200).all()
    bars = grid[:, :16].astype(int)
    assert (bars[..., :10, :] > 150).any() and (bars[..., 10:, :] > 150).any()  # white text on each dark bar
    assert np.median(bars) == 32
    with pytest.raises(AnimatexError, match="one height"):
        make_grid([("a", picture), ("b", video[:, :8])])
    with pytest.raises(AnimatexError, match="one length"):
        make_grid([("a", video), ("b", video[:2])])


def test_grid_of_a_pose_file_run_shows_the_driving_pose(synth_cases, tiny_model_dir):
    from animatex.animate import animate, load_pipeline

    clip = load_clip(synth_cases["human"])
    pipe = load_pipeline(tiny_model_dir)
    animation = animate(
        pipe, clip.reference, clip.poses, reference_pose=clip.reference_pose, align="global",
        size=(32, 32), num_frames=5, num_inference_steps=1, guidance_scale=1.0, progress=False,
    )  # fmt: skip
    assert animation.frames.shape == (5, 32, 32, 3) and animation.frames.dtype == np.uint8
    assert animation.driving is None and animation.align == "global"
    grid = animation_grid(animation)
    assert grid.shape[0] == 5 and grid.shape[2] == 4 * 32
    np.testing.assert_array_equal(grid[:, -32:, 32:64], animation.driving_pose_video)


def test_animate_refuses_to_overwrite(synth_cases, tiny_model_dir, tmp_path, capsys):
    case = synth_cases["human"]
    out, grid = tmp_path / "out.mp4", tmp_path / "grid.mp4"
    for existing in (out, grid):
        existing.write_bytes(b"keep me")
        args = _args(case, out, tiny_model_dir, "--driving", str(case / "poses.npz"), "--grid", str(grid))
        assert main(args) == 2
        assert f"{existing} already exists; pass --overwrite" in capsys.readouterr().err
        assert existing.read_bytes() == b"keep me"
        existing.unlink()


def test_missing_default_model_says_so(synth_cases, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no weights/animatex-demo here nor in the "checkout"
    monkeypatch.setattr("animatex.animate.CHECKOUT_ROOT", tmp_path)
    case = synth_cases["human"]
    args = ["animate", "--reference", str(case / "reference.png"), "--driving", str(case / "poses.npz")]
    assert main([*args, "-o", "out.mp4"]) == 2
    err = capsys.readouterr().err
    assert "weights/animatex-demo is not here" in err and "repository" in err and "--model DIR" in err
    assert "Traceback" not in err and err.count("\n") == 1
    assert not (tmp_path / "out.mp4").exists()


def test_default_model_is_found_from_any_folder(synth_cases, tiny_model_dir, tmp_path, monkeypatch):
    # Run from a folder of one's own: the demo model of the checkout animatex is installed from is used.
    checkout = tmp_path / "checkout"
    (checkout / "weights").mkdir(parents=True)
    (checkout / "weights" / "animatex-demo").symlink_to(tiny_model_dir, target_is_directory=True)
    monkeypatch.setattr("animatex.animate.CHECKOUT_ROOT", checkout)
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    case = synth_cases["human"]
    args = ["animate", "--reference", str(case / "reference.png"), "--driving", str(case / "poses.npz")]
    assert main([*args, "--frames", "5", "--steps", "1", "-o", "out.mp4"]) == 0
    assert read_video(tmp_path / "work" / "out.mp4")[0].shape[0] == 5


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"--reference": "missing.png"}, "--reference missing.png not found"),
        ({"--driving": "broken.mp4"}, "cannot read video"),
        ({"--size": "64by64"}, "WIDTHxHEIGHT"),
        ({"--size": "8x8"}, "too small"),
        ({"--frames": "0"}, "argument --frames: must be a positive integer"),
        ({"--frames": "99"}, "more frames than the driving motion has (9)"),
        ({"--steps": "0"}, "argument --steps: must be a positive integer"),
        ({"-o": "out.avi"}, "write videos as .mp4 or .gif"),
        ({"--model": "."}, "is not a pipeline folder"),
    ],
)
def test_animate_clean_errors(synth_cases, tiny_model_dir, tmp_path, monkeypatch, capsys, change, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "broken.mp4").write_bytes(b"not a video at all")
    case = synth_cases["human"]
    options = {
        "--reference": str(case / "reference.png"), "--driving": str(case / "poses.npz"),
        "--model": str(tiny_model_dir), "--steps": "1", "-o": "out.mp4", **change,
    }  # fmt: skip
    assert main(["animate", *[item for pair in options.items() for item in pair]]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "out.mp4").exists()


def test_parse_size():
    assert parse_size("832x480") == (832, 480)
    assert parse_size(" 64 X 32 ") == (64, 32)
    with pytest.raises(AnimatexError, match="positive"):
        parse_size("0x16")


def test_cli_doc_shows_every_subcommand():
    doc = (Path(__file__).parents[2] / "docs" / "cli.md").read_text(encoding="utf-8")
    for name in COMMANDS:
        assert (
            f"## `animatex {name}" in doc and f"animatex {name} " in doc.split(f"## `animatex {name}", 1)[1]
        )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"--reference": "notes.png"}, "cannot read image notes.png"),
        ({"--driving": "empty.mp4"}, "video empty.mp4 is empty"),
        ({"--driving": "nan.npz"}, "NaN or infinite keypoints"),
    ],
)
def test_inputs_are_checked_before_the_model_loads(
    synth_cases, tiny_model_dir, tmp_path, monkeypatch, capsys, change, message
):
    import animatex.animate

    def no_load(*args, **kwargs):
        raise AssertionError("the model was loaded before the inputs were checked")

    monkeypatch.setattr(animatex.animate, "load_pipeline", no_load)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.png").write_text("not a picture")
    (tmp_path / "empty.mp4").write_bytes(b"")
    keypoints = np.full((9, 134, 3), np.nan, np.float32)
    np.savez(tmp_path / "nan.npz", keypoints=keypoints, image_size=np.array([64, 64]), fps=np.array(16.0))
    case = synth_cases["human"]
    options = {
        "--reference": str(case / "reference.png"), "--driving": str(case / "poses.npz"),
        "--model": str(tiny_model_dir), "-o": "out.mp4", **change,
    }  # fmt: skip
    assert main(["animate", *[item for pair in options.items() for item in pair]]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
