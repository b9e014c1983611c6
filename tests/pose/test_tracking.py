import numpy as np
import pytest

from animatex.errors import AnimatexError
from animatex.pose.skeleton import NUM_KEYPOINTS
from animatex.pose.tracking import one_euro_smooth, prominence, select_main_person


def person(cx: float, cy: float, height: float) -> np.ndarray:
    """A crude body: 18 points spread over a box of `height` x height/2 centred at (cx, cy)."""
    points = np.zeros((NUM_KEYPOINTS, 3), np.float32)
    t = np.linspace(-0.5, 0.5, 18)
    points[:18, 0] = cx + t[::-1] * height / 2
    points[:18, 1] = cy + t * height
    points[:18, 2] = 0.9
    return points


def test_prominence_prefers_large_then_central():
    big_side, small_centre, big_centre = person(60, 100, 150), person(100, 100, 60), person(100, 100, 150)
    score = prominence(np.stack([big_side, small_centre, big_centre]), 200, 200)
    assert score.argmax() == 2 and score[0] > score[1]
    nobody = np.zeros((1, NUM_KEYPOINTS, 3), np.float32)
    assert prominence(nobody, 200, 200)[0] == -1


def test_tracking_follows_the_first_pick_not_the_most_prominent():
    # The main person starts big and central, walks right and gets smaller; a bystander grows.
    frames = []
    for f in range(6):
        main = person(100 + 10 * f, 100, 150 - 15 * f)
        bystander = person(60, 110, 80 + 20 * f)
        frames.append(np.stack([bystander, main]) if f % 2 else np.stack([main, bystander]))
    frames.insert(3, np.zeros((0, NUM_KEYPOINTS, 3), np.float32))  # a frame without anyone
    keypoints, found = select_main_person(frames, 200, 200, track=True)
    assert found.tolist() == [True, True, True, False, True, True, True]
    centres = keypoints[found, :18, 0].mean(axis=1)
    np.testing.assert_allclose(centres, [100 + 10 * f for f in range(6)], atol=1e-3)
    assert keypoints[3].max() == 0
    # Without tracking the last frames switch to the (now larger) bystander.
    untracked, _ = select_main_person(frames, 200, 200, track=False)
    assert untracked[-1, :18, 0].mean() == pytest.approx(60, abs=1e-3)


def test_select_main_person_checks_shapes():
    with pytest.raises(AnimatexError, match="frame 0"):
        select_main_person([np.zeros((1, 18, 3))], 10, 10)


def test_one_euro_reduces_jitter_and_follows_motion():
    rng = np.random.default_rng(0)
    frames = 120
    keypoints = np.zeros((frames, 2, 3), np.float32)
    keypoints[:, :, 2] = 1.0
    keypoints[:, 0, :2] = 256 + rng.normal(0, 3, (frames, 2))  # a still point with 3 px jitter
    keypoints[:, 1, 0] = np.linspace(0, 512, frames)  # a point crossing the image in 4 s
    smoothed = one_euro_smooth(keypoints, fps=30, scale=512)
    assert smoothed[:, 0, :2].std(axis=0).max() < 0.5 * keypoints[:, 0, :2].std(axis=0).min()
    lag = keypoints[20:, 1, 0] - smoothed[20:, 1, 0]
    assert 0 < lag.mean() < 10  # follows a fast point within a few pixels
    np.testing.assert_array_equal(smoothed[0], keypoints[0])  # the first sample passes through
    np.testing.assert_array_equal(smoothed[..., 2], keypoints[..., 2])


def test_one_euro_restarts_after_a_gap_and_skips_invisible_points():
    keypoints = np.zeros((10, 1, 3), np.float32)
    keypoints[:, 0, 2] = 1.0
    keypoints[:5, 0, :2] = 10.0
    keypoints[5, 0] = (999.0, 999.0, 0.0)  # invisible: left exactly as it was
    keypoints[6:, 0, :2] = 300.0
    smoothed = one_euro_smooth(keypoints, fps=16, scale=512)
    np.testing.assert_array_equal(smoothed[5], keypoints[5])
    np.testing.assert_allclose(smoothed[6:, 0, :2], 300.0)  # not dragged from 10


def test_one_euro_rejects_bad_parameters():
    with pytest.raises(AnimatexError):
        one_euro_smooth(np.zeros((3, 2, 3)), fps=0, scale=512)
    with pytest.raises(AnimatexError):
        one_euro_smooth(np.zeros((3, 2)), fps=16, scale=512)
