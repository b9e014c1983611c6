
"""The app's API through gradio_client, against a running `animatex ui`."""

from __future__ import annotations

import json
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
        "chain",  # the long-video and speed options reach the run (a 9-frame case is one window)
        "fbc",
        api_name="/animate",
    )
    frames, _ = read_video(video)
    assert frames.shape == (case_frames, 64, 64, 3)
    assert read_video(grid)[0].shape[0] == case_frames
    assert sorted(Path(f).name for f in downloads) == ["grid.mp4", "poses.npz", "result.mp4", "settings.json"]
    # The background preset replaced nothing (no comma) but was appended: what the model was asked is shown.
    assert "a cat dances, heavy snow falls quickly in the background." in notes
    settings = json.loads(Path(next(f for f in downloads if f.endswith("settings.json"))).read_text())
    assert settings["window_strategy"] == "chain" and settings["cache"] == "fbc"
    assert settings["memory"] == "vae-tiling"  # `animatex ui --memory` (tests/ui/conftest.py)


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


def test_one_animation_at_a_time_and_the_queue_shows_places(app_url: str, case: Path, tmp_path: Path) -> None:
    from gradio_client.utils import Status

    client = gradio_client.Client(app_url, verbose=False, download_files=str(tmp_path))
    inputs = [gradio_client.handle_file(case / name) for name in ("reference.png", "driving.mp4")]
    inputs += [gradio_client.handle_file(case / name) for name in ("reference_pose.npz", "poses.npz")]
    settings = ["bones", "64x64", 9, "", "still", 6, 1.0, 1.0]
    options = ["the model's default", "none"]  # windows, step cache
    jobs = [client.submit(*inputs, *settings, seed, *options, api_name="/animate") for seed in (0, 1, 2)]
    seen: list[list] = [[] for _ in jobs]
    while not all(job.done() for job in jobs):
        for job, statuses in zip(jobs, seen, strict=True):
            statuses.append(job.status())
    for job in jobs:
        job.result()
    # While the first runs the others wait in line, and are told where they stand.
    waiting = [s for statuses in seen[1:] for s in statuses if s.code == Status.IN_QUEUE]
    assert waiting, [[s.code for s in statuses] for statuses in seen]
    assert all(s.rank is not None and s.queue_size is not None and s.rank < s.queue_size for s in waiting)
    # The sampler's steps reach the client (and the page's progress bar) as they happen.
    counted = [
        u for statuses in seen for s in statuses for u in (s.progress_data or []) if u.length is not None
    ]
    assert counted and {(u.unit, u.length) for u in counted} == {("steps", settings[5])}
