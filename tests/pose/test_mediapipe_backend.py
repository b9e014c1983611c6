import numpy as np
import pytest

from animatex.errors import AnimatexError
from animatex.pose.mediapipe_backend import FACE_MESH_TO_68, assign_hands, blazepose_to_keypoints
from animatex.pose.skeleton import BODY_INDEX, FACE, FEET, LEFT_HAND, RIGHT_HAND


def blazepose() -> np.ndarray:
    """33 landmarks whose x encodes their BlazePose index, all visible and inside a 100 x 100 image."""
    pose = np.zeros((33, 3), np.float32)
    pose[:, 0] = np.arange(33) + 0.5
    pose[:, 1] = 50
    pose[:, 2] = 0.8
    return pose


def test_body_and_feet_mapping():
    pose = blazepose()
    pose[11, 2], pose[12, 2] = 0.9, 0.4
    out = blazepose_to_keypoints(pose, 100, 100)
    expected = {"nose": 0, "right_shoulder": 12, "left_wrist": 15, "right_hip": 24, "left_ankle": 27}
    expected |= {"right_eye": 5, "left_eye": 2, "right_ear": 8, "left_ear": 7, "right_knee": 26}
    for name, landmark in expected.items():
        assert out[BODY_INDEX[name], 0] == pytest.approx(landmark + 0.5)
    neck = out[BODY_INDEX["neck"]]
    assert neck[0] == pytest.approx(12.0) and neck[2] == pytest.approx(0.4)
    feet = out[FEET]
    np.testing.assert_allclose(feet[:, 0], [31.5, 31.5, 29.5, 32.5, 32.5, 30.5])
    np.testing.assert_allclose(feet[:, 2], [0.8, 0.0, 0.8, 0.8, 0.0, 0.8])  # no small toe in BlazePose
    assert out[FACE, 2].max() == 0 and out[LEFT_HAND, 2].max() == 0


def test_hands_face_and_points_outside_the_image():
    pose = blazepose()
    pose[0, 0] = -3.0  # nose left of the image
    hand = np.column_stack([np.arange(21), np.full(21, 60), np.zeros(21)]).astype(np.float32)
    mesh = np.column_stack([np.arange(468) / 5, np.full(468, 10), np.zeros(468)]).astype(np.float32)
    out = blazepose_to_keypoints(pose, 100, 100, left_hand=hand, face_mesh=mesh)
    assert out[BODY_INDEX["nose"], 2] == 0
    np.testing.assert_allclose(out[LEFT_HAND, :2], hand[:, :2])
    assert (out[LEFT_HAND, 2] == 1).all() and out[RIGHT_HAND, 2].max() == 0
    np.testing.assert_allclose(out[FACE, 0], np.array(FACE_MESH_TO_68) / 5)
    assert len(set(FACE_MESH_TO_68)) == 68 and max(FACE_MESH_TO_68) < 468
    with pytest.raises(AnimatexError, match="33, 3"):
        blazepose_to_keypoints(pose[:17], 100, 100)


def test_hands_go_to_the_nearest_wrist():
    pose = blazepose()
    pose[15, :2] = (10, 10)  # left wrist
    pose[16, :2] = (90, 10)  # right wrist
    near_right = np.full((21, 3), 88.0, np.float32)
    near_left = np.full((21, 3), 12.0, np.float32)
    left, right = assign_hands(pose, near_right, near_left)
    assert left is near_left and right is near_right
    assert assign_hands(pose, near_right, None) == (None, near_right)
    assert assign_hands(pose, None, None) == (None, None)
