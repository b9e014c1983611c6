"""`VideoWriter`: a video written window by window, whole or not at all."""

import numpy as np
import pytest

from animatex.errors import AnimatexError
from animatex.io import VideoWriter, read_video, write_video


def _frames(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, 16, 16, 3), dtype=np.uint8)


@pytest.mark.parametrize("name", ["out.mp4", "out.gif"])
def test_batches_make_one_video_equal_to_write_video(tmp_path, name):
    frames = _frames(11)
    with VideoWriter(tmp_path / name, 8) as writer:
        for start in range(0, 11, 4):
            writer.write(frames[start : start + 4])
            assert not (tmp_path / name).exists()  # nothing at the target until the end
    assert writer.frames_written == 11
    streamed, fps = read_video(tmp_path / name)
    whole = write_video(tmp_path / f"whole{name[3:]}", frames, 8)
    assert streamed.shape == (11, 16, 16, 3) and fps == pytest.approx(8, rel=0.05)  # gif: 1/100 s delays
    np.testing.assert_array_equal(streamed, read_video(whole)[0])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, f"whole{name[3:]}"])


@pytest.mark.parametrize("error", [KeyboardInterrupt, RuntimeError])
def test_interrupted_run_keeps_the_old_file_and_leaves_no_partial(tmp_path, error):
    path = tmp_path / "out.mp4"
    path.write_bytes(b"the old file")
    with pytest.raises(error), VideoWriter(path, 16) as writer:
        writer.write(_frames(5))
        raise error()
    assert path.read_bytes() == b"the old file"
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]


def test_writer_refuses_no_frames_and_a_size_change(tmp_path):
    with pytest.raises(AnimatexError, match="no frames"), VideoWriter(tmp_path / "a.mp4"):
        pass
    with pytest.raises(AnimatexError, match="one size"), VideoWriter(tmp_path / "b.mp4") as writer:
        writer.write(_frames(2))
        writer.write(np.zeros((2, 8, 8, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []
