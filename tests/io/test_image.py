import numpy as np
import pytest

from animatex.errors import AnimatexError
from animatex.io import read_image, write_image


def test_png_round_trip_is_exact(tmp_path):
    image = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    np.testing.assert_array_equal(read_image(write_image(tmp_path / "deep" / "a.png", image)), image)


def test_jpeg_round_trip_is_close(tmp_path):
    y, x = np.mgrid[0:32, 0:32]
    image = np.stack([x * 8, y * 8, (x + y) * 4], -1).astype(np.uint8)
    back = read_image(write_image(tmp_path / "a.jpg", image))
    assert back.shape == image.shape and np.abs(back.astype(int) - image).mean() < 3


def test_gray_and_alpha_become_rgb(tmp_path):
    import imageio.v3 as iio

    iio.imwrite(tmp_path / "gray.png", np.full((4, 5), 100, np.uint8))
    np.testing.assert_array_equal(read_image(tmp_path / "gray.png"), np.full((4, 5, 3), 100, np.uint8))
    rgba = np.zeros((4, 5, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:, :2, 3] = 255  # left two columns opaque red, the rest fully transparent
    iio.imwrite(tmp_path / "rgba.png", rgba)
    image = read_image(tmp_path / "rgba.png")
    assert image[0, 0].tolist() == [255, 0, 0]
    assert image[0, 4].tolist() == [255, 255, 255]  # transparent -> white


def test_errors_name_the_file(tmp_path):
    with pytest.raises(AnimatexError, match="nope.png"):
        read_image(tmp_path / "nope.png")
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(AnimatexError, match="bad.png"):
        read_image(tmp_path / "bad.png")
    with pytest.raises(AnimatexError, match="unknown image type"):
        write_image(tmp_path / "a.xyz", np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(AnimatexError, match="shape"):
        write_image(tmp_path / "a.png", np.zeros((2, 2, 5), np.uint8))
