import math

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from animatex.evaluation import metrics


def _video(seed: int, frames: int = 2, height: int = 24, width: int = 20) -> np.ndarray:
    return np.random.default_rng(seed).random((frames, height, width, 3))


def test_psnr_star_of_known_mse():
    target = np.full((2, 8, 8, 3), 0.5)
    result = target + 0.1  # MSE 0.01 -> 20 dB
    assert metrics.psnr_star(result, target) == pytest.approx(20.0)


def test_psnr_star_uint8_does_not_wrap_around():
    target = np.zeros((1, 4, 4, 3), np.uint8)
    result = np.full((1, 4, 4, 3), 255, np.uint8)  # uint8 subtraction would give 1, not 255
    assert metrics.psnr_star(result, target) == pytest.approx(0.0)
    assert metrics.psnr_star(target, target) == metrics.MAX_PSNR


def test_psnr_star_is_per_frame_mean():
    target = np.zeros((2, 4, 4, 3))
    result = target.copy()
    result[0] += 0.1  # frame 0: 20 dB, frame 1: identical -> capped 100 dB
    assert metrics.psnr_star(result, target) == pytest.approx(60.0)


def test_l1_and_disco_scale():
    target = np.zeros((1, 10, 20, 3), np.uint8)
    result = np.full((1, 10, 20, 3), 51, np.uint8)  # 51 / 255 = 0.2
    assert metrics.l1(result, target) == pytest.approx(0.2)
    assert metrics.l1(result, target, convention="disco") == pytest.approx(51 / 200)


@pytest.mark.parametrize("colour", ["grey", "rgb"])
def test_ssim_of_identical_is_one(colour):
    video = _video(0)
    assert metrics.ssim(video, video, colour=colour) == pytest.approx(1.0)


def test_ssim_gaussian_matches_scikit_image():
    a, b = _video(1, frames=1), _video(2, frames=1)
    b = 0.7 * a + 0.3 * b  # correlated, so SSIM is far from 0 and 1
    grey_a, grey_b = a[0] @ metrics.LUMA_WEIGHTS, b[0] @ metrics.LUMA_WEIGHTS
    expected = structural_similarity(
        grey_a, grey_b, data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
    )
    assert metrics.ssim(a, b) == pytest.approx(expected, abs=1e-10)
    expected_rgb = structural_similarity(
        a[0],
        b[0],
        data_range=1.0,
        channel_axis=-1,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
    )
    assert metrics.ssim(a, b, colour="rgb") == pytest.approx(expected_rgb, abs=1e-10)


def test_ssim_uniform_matches_scikit_image_default():
    a, b = _video(3, frames=1), _video(4, frames=1)
    b = 0.5 * a + 0.5 * b
    expected = structural_similarity(a[0] @ metrics.LUMA_WEIGHTS, b[0] @ metrics.LUMA_WEIGHTS, data_range=1.0)
    assert metrics.ssim(a, b, window="uniform") == pytest.approx(expected, abs=1e-10)


def test_fg_metrics_only_see_the_mask():
    target = np.zeros((2, 16, 32, 3))
    result = target.copy()
    result[:, :, 16:] = 1.0  # the right half is wrong
    mask = np.zeros((2, 16, 32), bool)
    mask[:, :, :16] = True  # the character is on the left half
    assert metrics.fg_psnr(result, target, mask) == metrics.MAX_PSNR
    assert metrics.fg_psnr(result, target, ~mask) == pytest.approx(0.0)
    # Windows centred on columns 5..10 see only equal pixels; the valid region starts at column 5.
    inner = np.zeros_like(mask)
    inner[:, :, 5:11] = True
    assert metrics.fg_ssim(result, target, inner) == pytest.approx(1.0)
    assert metrics.fg_ssim(result, target, ~mask) < 0.5
    assert math.isnan(metrics.fg_psnr(result, target, np.zeros_like(mask)))


def test_silhouette_iou_by_hand():
    background = np.zeros((10, 10, 3), np.uint8)
    result = np.zeros((1, 10, 10, 3), np.uint8)
    result[0, 2:6, 2:6] = 200  # drawn: 16 pixels
    mask = np.zeros((1, 10, 10), bool)
    mask[0, 4:8, 2:6] = True  # truth: 16 pixels, 8 shared
    assert metrics.silhouette_iou(result, background, mask) == pytest.approx(8 / 24)
    result[0, 2:6, 2:6] = 20  # below the threshold: nothing drawn
    assert metrics.silhouette_iou(result, background, mask) == pytest.approx(0.0)


def test_bg_motion_by_hand():
    video = np.zeros((3, 4, 4, 3))
    video[1] = 0.2
    video[2] = 0.2
    video[:, 0, 0] = [[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]  # a flickering character pixel
    mask = np.zeros((3, 4, 4), bool)
    mask[:, 0, 0] = True
    # Pairs (0,1): 15 pixels change by 0.2, (1,2): nothing changes -> mean 0.1.
    assert metrics.bg_motion(video, mask) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="at least 2 frames"):
        metrics.bg_motion(video[:1], mask[:1])


@pytest.mark.parametrize(
    ("result", "target", "message"),
    [
        (np.zeros((2, 8, 8, 3)), np.zeros((2, 8, 9, 3)), "shapes differ"),
        (np.zeros((8, 8, 3)), np.zeros((8, 8, 3)), "frames, height, width, 3"),
        (np.zeros((1, 8, 8, 3), np.int32), np.zeros((1, 8, 8, 3)), "uint8"),
        (np.full((1, 8, 8, 3), 2.0), np.zeros((1, 8, 8, 3)), r"\[0, 1\]"),
    ],
)
def test_bad_inputs_raise(result, target, message):
    with pytest.raises(ValueError, match=message):
        metrics.psnr_star(result, target)


def test_bad_mask_raises():
    video = np.zeros((2, 8, 8, 3))
    with pytest.raises(ValueError, match="bool"):
        metrics.fg_psnr(video, video, np.zeros((2, 8, 8)))
    with pytest.raises(ValueError, match="frames, height, width"):
        metrics.fg_psnr(video, video, np.zeros((1, 8, 8), bool))
