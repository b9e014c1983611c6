import numpy as np
import pytest

from animatex.errors import AnimatexError
from animatex.io import DEFAULT_FPS, read_video, write_image, write_video


def smooth_frames(count: int = 6, height: int = 48, width: int = 64) -> np.ndarray:
    """Gradients that move per frame: compress well, so a round trip stays close."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    frames = [
        np.stack([(x * 4 + 10 * f) % 256, (y * 5) % 256, np.full_like(x, 40 * f % 256)], axis=-1)
        for f in range(count)
    ]
    return np.asarray(frames, np.uint8)


def test_mp4_round_trip(tmp_path):
    frames = smooth_frames()
    path = write_video(tmp_path / "sub" / "clip.mp4", frames, fps=12)
    back, fps = read_video(path)
    assert back.shape == frames.shape and back.dtype == np.uint8
    assert fps == pytest.approx(12)
    assert np.abs(back.astype(int) - frames).mean() < 4


def test_mp4_is_h264_yuv420p(tmp_path):
    import av

    path = write_video(tmp_path / "clip.mp4", smooth_frames(3), fps=16)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"


def test_mp4_odd_size_is_padded_to_even(tmp_path):
    frames = smooth_frames(3, height=33, width=47)
    back, _ = read_video(write_video(tmp_path / "odd.mp4", frames, fps=8))
    assert back.shape == (3, 34, 48, 3)
    assert np.abs(back[:, :33, :47].astype(int) - frames).mean() < 4


def test_float_frames_and_max_frames(tmp_path):
    frames = smooth_frames(5)
    write_video(tmp_path / "f.mp4", frames.astype(np.float32) / 255, fps=10)
    back, _ = read_video(tmp_path / "f.mp4", max_frames=2)
    assert back.shape == (2, *frames.shape[1:])
    assert np.abs(back.astype(int) - frames[:2]).mean() < 4


def test_gif_round_trip(tmp_path):
    frames = smooth_frames(4)
    back, fps = read_video(write_video(tmp_path / "clip.gif", frames, fps=10))
    assert back.shape == frames.shape
    assert fps == pytest.approx(10)
    assert np.abs(back.astype(int) - frames).mean() < 12  # palette quantisation


def test_folder_of_frames_in_natural_order(tmp_path):
    frames = smooth_frames(11)
    for i, frame in enumerate(frames):
        write_image(tmp_path / "frames" / f"frame_{i}.png", frame)
    (tmp_path / "frames" / "notes.txt").write_text("not a frame")
    back, fps = read_video(tmp_path / "frames")
    assert fps == DEFAULT_FPS
    np.testing.assert_array_equal(back, frames)  # png is lossless, and frame_10 comes last
    assert len(read_video(tmp_path / "frames", max_frames=3)[0]) == 3


def test_single_image(tmp_path):
    frame = smooth_frames(1)[0]
    back, fps = read_video(write_image(tmp_path / "one.png", frame))
    assert fps == DEFAULT_FPS
    np.testing.assert_array_equal(back, frame[None])


def test_missing_empty_and_corrupt_inputs_name_the_file(tmp_path):
    with pytest.raises(AnimatexError, match="missing.mp4"):
        read_video(tmp_path / "missing.mp4")
    (tmp_path / "empty").mkdir()
    with pytest.raises(AnimatexError, match="no image files.*empty"):
        read_video(tmp_path / "empty")
    (tmp_path / "broken.mp4").write_bytes(b"this is not a video" * 10)
    with pytest.raises(AnimatexError, match="broken.mp4"):
        read_video(tmp_path / "broken.mp4")
    (tmp_path / "broken.gif").write_bytes(b"GIF89a nonsense")
    with pytest.raises(AnimatexError, match="broken.gif"):
        read_video(tmp_path / "broken.gif")
    with pytest.raises(AnimatexError, match="max_frames"):
        read_video(tmp_path / "broken.mp4", max_frames=0)


def test_folder_with_mixed_sizes_is_refused(tmp_path):
    write_image(tmp_path / "a" / "0.png", smooth_frames(1, 16, 16)[0])
    write_image(tmp_path / "a" / "1.png", smooth_frames(1, 16, 24)[0])
    with pytest.raises(AnimatexError, match="differ in size"):
        read_video(tmp_path / "a")


def test_write_rejects_bad_input(tmp_path):
    frames = smooth_frames(2)
    with pytest.raises(AnimatexError, match=r"\.mp4 or \.gif"):
        write_video(tmp_path / "clip.avi", frames, fps=8)
    with pytest.raises(AnimatexError, match="fps"):
        write_video(tmp_path / "clip.mp4", frames, fps=0)
    with pytest.raises(AnimatexError, match="no frames"):
        write_video(tmp_path / "clip.mp4", [], fps=8)
    with pytest.raises(AnimatexError, match="same size"):
        write_video(tmp_path / "clip.mp4", [frames[0], frames[0, :8]], fps=8)
    with pytest.raises(AnimatexError, match="shape"):
        write_video(tmp_path / "clip.mp4", np.zeros((2, 3), np.uint8), fps=8)
    assert not (tmp_path / "clip.mp4").exists()


def test_io_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, animatex.io; sys.exit(int('torch' in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty (0 bytes)"),
        (
            b"this is not a video\n" * 10,
            "not a video or damaged (Error opening input files: Invalid data found",
        ),
        (None, "not a video or damaged"),  # a real mp4 cut short: the index at its end is gone
    ],
)
def test_unreadable_video_is_one_line_without_ffmpeg_banner(tmp_path, content, message):
    path = tmp_path / "bad.mp4"
    if content is None:
        content = write_video(tmp_path / "good.mp4", smooth_frames(9)).read_bytes()[:2000]
    path.write_bytes(content)
    with pytest.raises(AnimatexError) as error:
        read_video(path)
    text = str(error.value)
    assert message in text and str(path) in text
    assert "\n" not in text and "ffmpeg version" not in text and "configuration:" not in text
