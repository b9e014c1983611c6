import numpy as np
import pytest

from animatex.errors import AnimatexError
from animatex.pose.draw import (
    BODY_COLORS,
    HAND_EDGE_COLORS,
    HAND_POINT_COLOR,
    LIMB_COLORS,
    draw_pose,
    draw_pose_video,
)
from animatex.pose.sequence import PoseSequence
from animatex.pose.skeleton import BODY_INDEX, FACE, LEFT_HAND, NUM_KEYPOINTS

# A standing figure on a 512 x 512 canvas (x, y pixels).
BODY = np.array(
    [
        [256, 100], [256, 150], [206, 150], [186, 220], [176, 290], [306, 150], [326, 220], [336, 290],
        [226, 290], [226, 380], [226, 470], [286, 290], [286, 380], [286, 470],
        [246, 90], [266, 90], [236, 95], [276, 95],
    ],
    np.float32,
)  # fmt: skip


def figure(size: int = 512) -> np.ndarray:
    points = np.zeros((NUM_KEYPOINTS, 3), np.float32)
    points[:18, :2] = BODY * size / 512
    points[:18, 2] = 1.0
    return points


def color_at(image: np.ndarray, xy) -> list[int]:
    return image[int(round(xy[1])), int(round(xy[0]))].tolist()


def test_limbs_and_joints_have_dwpose_colours():
    image = draw_pose(figure(), 512, 512)
    assert image.shape == (512, 512, 3) and image.dtype == np.uint8
    # limb 0 (neck -> right shoulder) at its midpoint: colour 0 dimmed to 60 %
    assert color_at(image, (BODY[1] + BODY[2]) / 2) == list(LIMB_COLORS[0]) == [153, 0, 0]
    # limb 8 (right knee -> right ankle)
    assert color_at(image, (BODY[9] + BODY[10]) / 2) == list(LIMB_COLORS[8])
    # joints in full colour on top of the limbs
    for joint in ("neck", "right_wrist", "left_ankle"):
        j = BODY_INDEX[joint]
        assert color_at(image, BODY[j]) == list(BODY_COLORS[j])
    assert color_at(image, (10, 10)) == [0, 0, 0]


def test_stick_width_and_radius_scale_with_canvas():
    def limb_thickness(size):
        image = draw_pose(figure(size), size, size)
        x = int(round((BODY[9, 0] + BODY[10, 0]) / 2 * size / 512))
        y = int(round((BODY[9, 1] + BODY[10, 1]) / 2 * size / 512))
        return int((image[y, :, :].sum(-1) > 0)[x - 12 : x + 13].sum())

    assert limb_thickness(512) == 9  # 2 * stick width 4 + 1
    assert limb_thickness(1024) == 17
    assert limb_thickness(256) == 5
    image = draw_pose(figure(), 512, 512, stick_width=10)
    assert (image[335, 200:260].sum(-1) > 0).sum() == 21


def test_any_canvas_size_and_pose_sequence_rescaling():
    seq = PoseSequence(figure()[None], 512, 512)
    small = draw_pose(seq, 97, 33)
    assert small.shape == (33, 97, 3)
    wide = draw_pose(seq, 1024, 512)  # x doubles, y stays
    neck = BODY[BODY_INDEX["neck"]]
    assert color_at(wide, (neck[0] * 2, neck[1])) == list(BODY_COLORS[1])
    np.testing.assert_array_equal(draw_pose(seq), draw_pose(figure(), 512, 512))


def test_invisible_points_are_not_drawn():
    points = figure()
    points[BODY_INDEX["right_elbow"], 2] = 0.29  # below the 0.3 threshold
    image = draw_pose(points, 512, 512)
    assert color_at(image, BODY[3]) == [0, 0, 0]
    assert color_at(image, (BODY[2] + BODY[3]) / 2) == [0, 0, 0]  # shoulder -> elbow limb gone
    assert color_at(image, (BODY[3] + BODY[4]) / 2) == [0, 0, 0]
    points[:, 2] = 0
    assert draw_pose(points, 64, 64).max() == 0
    nan = figure()
    nan[0, :2] = np.nan
    assert draw_pose(nan, 512, 512).shape == (512, 512, 3)


def test_hands_and_face():
    points = figure()
    hand = np.array([[100 + 10 * (k % 5), 400 + 8 * (k // 5)] for k in range(21)], np.float32)
    hand[1:5] = [[60, 380], [60, 340], [60, 300], [60, 260]]  # the thumb: a long vertical line
    points[LEFT_HAND, :2] = hand
    points[LEFT_HAND, 2] = 1
    points[FACE, :2] = [[400 + 4 * (k % 10), 40 + 4 * (k // 10)] for k in range(68)]
    points[FACE, 2] = 1
    image = draw_pose(points, 512, 512)
    assert color_at(image, (60, 320)) == list(HAND_EDGE_COLORS[2])  # bone 2 (thumb 2 -> 3)
    assert color_at(image, (60, 260)) == list(HAND_POINT_COLOR)
    assert image[40:70, 400:440].max() == 0  # face off by default, like Animate-X++
    with_face = draw_pose(points, 512, 512, draw_face=True)
    assert color_at(with_face, (400, 40)) == [255, 255, 255]
    assert color_at(draw_pose(points, 512, 512, draw_hands=False), (60, 320)) == [0, 0, 0]


def test_video_is_deterministic_and_matches_frames():
    rng = np.random.default_rng(0)
    keypoints = np.repeat(figure()[None], 4, axis=0)
    keypoints[:, :18, :2] += rng.normal(0, 5, (4, 18, 2))
    seq = PoseSequence(keypoints, 512, 512, fps=8)
    video = draw_pose_video(seq, 256, 128)
    assert video.shape == (4, 128, 256, 3) and video.dtype == np.uint8
    np.testing.assert_array_equal(video, draw_pose_video(seq, 256, 128))
    for i in range(4):
        np.testing.assert_array_equal(video[i], draw_pose(seq[i], 256, 128))


def test_background_overlay():
    background = np.full((64, 64, 3), 77, np.uint8)
    image = draw_pose(figure(64), 64, 64, background=background)
    assert color_at(image, (1, 1)) == [77, 77, 77]
    assert color_at(image, BODY[1] / 8) == list(BODY_COLORS[1])
    assert background.max() == 77  # not drawn in place


def test_bad_input():
    with pytest.raises(AnimatexError, match="134, 3"):
        draw_pose(np.zeros((18, 3)), 64, 64)
    with pytest.raises(AnimatexError, match="width and height"):
        draw_pose(figure(), None, None)
    with pytest.raises(AnimatexError, match="draw_pose_video"):
        draw_pose(PoseSequence(np.repeat(figure()[None], 2, 0), 512, 512))
    with pytest.raises(AnimatexError, match="positive"):
        draw_pose(figure(), 0, 10)
    with pytest.raises(AnimatexError, match="background"):
        draw_pose(figure(), 64, 64, background=np.zeros((64, 32, 3), np.uint8))
