"""The app's logic without a browser: prompts, upload checks, examples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from animatex.errors import AnimatexError
from animatex.io import write_image
from animatex.ui.studio import Studio, UploadLimits, compose_prompt, ensure_examples


def test_background_preset_replaces_what_follows_the_first_comma() -> None:
    caption = "an orange cartoon cat is taking a bow, rough waves roll slowly to the right behind it."
    assert compose_prompt(caption, "as written") == caption
    assert (
        compose_prompt(caption, "still")
        == "an orange cartoon cat is taking a bow, the background does not move."
    )
    assert compose_prompt("a cat dances", "drifting left").endswith("drifting to the left.")
    assert compose_prompt("", "rain").startswith("Heavy rain")
    with pytest.raises(AnimatexError, match="unknown background preset"):
        compose_prompt(caption, "fog")


@pytest.fixture
def studio(tmp_path: Path) -> Studio:
    # The checks need no pipeline.
    return Studio(None, tmp_path / "out", limits=UploadLimits(max_file_mb=0.01, max_image_pixels=100 * 100))


def test_uploads_are_checked_before_decoding(studio: Studio, tmp_path: Path) -> None:
    with pytest.raises(AnimatexError, match="no reference picture: upload one first"):
        studio.check_upload(None, "reference picture", ("image",))
    text = tmp_path / "clip.mp4"
    text.write_text("not a video")
    with pytest.raises(AnimatexError, match="clip.mp4 is not a video that can be read"):
        studio.check_upload(text, "driving video", ("video", "pose"))
    notes = tmp_path / "notes.txt"
    notes.write_text("x")
    with pytest.raises(AnimatexError, match=r"notes.txt has the wrong type: upload one of \.png"):
        studio.check_upload(notes, "reference picture", ("image",))
    big = write_image(tmp_path / "big.png", np.zeros((101, 100, 3), np.uint8))
    with pytest.raises(AnimatexError, match="big.png is 100x101; the app takes up to 0.0 megapixels"):
        studio.check_upload(big, "reference picture", ("image",))
    noisy = write_image(
        tmp_path / "noisy.png", np.random.default_rng(0).integers(0, 255, (90, 90, 3), np.uint8)
    )
    with pytest.raises(AnimatexError, match="noisy.png is 0.0 MB; the app takes files up to 0.01 MB"):
        studio.check_upload(noisy, "reference picture", ("image",))
    small = write_image(tmp_path / "small.png", np.zeros((8, 8, 3), np.uint8))
    assert studio.check_upload(small, "reference picture", ("image",)) == small


def test_examples_are_generated_once_and_deterministic(tmp_path: Path) -> None:
    first = ensure_examples(tmp_path)
    stamp = first[0].reference.stat().st_mtime_ns
    again = ensure_examples(tmp_path)
    assert [e.label for e in again] == [e.label for e in first]
    assert again[0].reference.stat().st_mtime_ns == stamp  # not regenerated
    other = ensure_examples(tmp_path / "elsewhere")
    assert other[0].reference.read_bytes() == first[0].reference.read_bytes()
    assert all(
        e.driving.is_file() and e.driving_poses.is_file() and e.reference_pose.is_file() for e in first
    )


def test_notes_stay_with_the_request_that_raised_them() -> None:
    import threading
    import warnings

    from animatex.animate import AnimatexWarning
    from animatex.ui.studio import collect_notes

    barrier = threading.Barrier(2)
    collected: dict[str, list[str]] = {}

    def request(name: str) -> None:
        with collect_notes() as notes:
            barrier.wait()  # both requests are inside collect_notes at once
            for i in range(50):
                warnings.warn(f"{name} {i % 5}", AnimatexWarning, stacklevel=1)
            barrier.wait()
        collected[name] = notes

    threads = [threading.Thread(target=request, args=(name,)) for name in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert collected == {name: [f"{name} {i}" for i in range(5)] for name in ("first", "second")}


def test_the_pipelines_logged_notes_reach_the_page(tmp_path: Path) -> None:
    from animatex.pipelines.tiny import build_tiny_pipeline
    from animatex.ui.studio import collect_notes

    studio = Studio(build_tiny_pipeline(seed=0), tmp_path)
    multiple = studio.pipe.size_multiple[1]
    with collect_notes() as notes:
        size = studio.output_size(f"{2 * multiple + 3}x{2 * multiple}", np.zeros((64, 64, 3), np.uint8))
    assert size == (2 * multiple, 2 * multiple)
    assert any("rounding" in note for note in notes), notes


def test_every_offered_cache_is_one_the_pipeline_knows() -> None:
    from animatex.pipelines.speed import cache_config, parse_cache_spec
    from animatex.ui.studio import CACHE_CHOICES

    for choice in CACHE_CHOICES:
        name, _ = parse_cache_spec(choice)
        if name != "magcache":  # offered caches need no calibration file
            config = cache_config(choice, num_inference_steps=8, current_timestep=lambda: 1000)
            assert (config is None) == (name == "none"), choice
