"""The app's API through gradio_client, against a running `animatex ui`."""

from __future__ import annotations

from pathlib import Path

import pytest

from animatex.io import read_video

gradio_client = pytest.importorskip("gradio_client", reason="gradio_client is in the dev extras")


def test_animate_endpoint_returns_a_video_with_the_frames(
    app_url: str, case: Path, case_frames: int, tmp_path: Path
) -> None:
    client = gradio_client.Client(app_url, verbose=False, download_files=str(tmp_path))
    files = [gradio_client.handle_file(case / name) for name in ("reference.png", "driving.mp4")]
    poses = [gradio_client.handle_file(case / name) for name in ("reference_pose.npz", "poses.npz")]
    video, grid, downloads, notes = client.predict(
        *files,
        *poses,
        "bones",
        "64x64",
        case_frames,
        "a cat dances",
        "snow",
        2,
        1.0,
        1.0,
        3,
        api_name="/animate",
    )
    frames, _ = read_video(video)
    assert frames.shape == (case_frames, 64, 64, 3)
    assert read_video(grid)[0].shape[0] == case_frames
    assert sorted(Path(f).name for f in downloads) == ["grid.mp4", "poses.npz", "result.mp4", "settings.json"]
    # The background preset replaced nothing (no comma) but was appended: what the model was asked is shown.
    assert "a cat dances, heavy snow falls quickly in the background." in notes


def test_bad_upload_is_one_readable_line(app_url: str, case: Path, case_frames: int, tmp_path: Path) -> None:
    not_a_video = tmp_path / "notes.mp4"
    not_a_video.write_text("this is not a video\n")
    client = gradio_client.Client(app_url, verbose=False, download_files=str(tmp_path))
    with pytest.raises(Exception, match="notes.mp4 is not a video that can be read") as caught:
        client.predict(
            gradio_client.handle_file(case / "reference.png"), gradio_client.handle_file(not_a_video),
            gradio_client.handle_file(case / "reference_pose.npz"), None, "bones", "64x64", case_frames,
            api_name="/pose_preview",
        )  # fmt: skip
    message = str(caught.value)
    assert "Traceback" not in message and str(tmp_path) not in message
