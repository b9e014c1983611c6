import cv2
import numpy as np
import pytest

from animatex.evaluation.baselines import copy_reference, rigid_warp
from animatex.pose.sequence import PoseSequence
from animatex.pose.skeleton import BODY_INDEX, BODY_LIMBS

SIZE = 96
# A small upright body on a 96 x 96 image: (x, y) per OpenPose-18 joint.
BODY = np.array(
    [
        [48, 14], [48, 24], [38, 24], [30, 34], [24, 44], [58, 24], [66, 34], [72, 44],
        [42, 50], [42, 66], [42, 82], [54, 50], [54, 66], [54, 82], [46, 12], [50, 12], [44, 13], [52, 13],
    ],
    dtype=np.float64,
)  # fmt: skip
RED, GREEN = (255, 0, 0), (0, 255, 0)


def _character(body: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Black image with the body drawn as thick lines: the right forearm red, everything else green."""
    image = np.zeros((SIZE, SIZE, 3), np.uint8)
    forearm = (BODY_INDEX["right_elbow"], BODY_INDEX["right_wrist"])
    for limb in BODY_LIMBS:
        a, b = (tuple(int(v) for v in body[j]) for j in limb)
        cv2.line(image, a, b, RED if limb == forearm else GREEN, thickness=3)
    return image, image.any(axis=-1)


def _pose(*bodies: np.ndarray) -> PoseSequence:
    return PoseSequence.from_body(np.stack(bodies), SIZE, SIZE)


def test_copy_reference():
    image = np.random.default_rng(0).integers(0, 256, (8, 6, 3), dtype=np.uint8)
    video = copy_reference(image, 3)
    assert video.shape == (3, 8, 6, 3) and video.dtype == np.uint8
    assert (video == image).all()
    with pytest.raises(ValueError, match="num_frames"):
        copy_reference(image, 0)


def test_same_pose_reproduces_the_reference():
    image, mask = _character(BODY)
    result = rigid_warp(image, _pose(BODY), _pose(BODY, BODY), background=np.zeros_like(image))
    assert result.shape == (2, SIZE, SIZE, 3)
    # Every character pixel comes back (up to interpolation rounding), nothing is drawn far from it.
    assert np.abs(result[0].astype(int) - image)[mask].max() <= 2
    assert (result[1] == result[0]).all()


def test_translation_moves_the_character():
    image, mask = _character(BODY)
    shift = np.array([10.0, 5.0])
    result = rigid_warp(image, _pose(BODY), _pose(BODY + shift), background=np.zeros_like(image))[0]
    expected = np.roll(image, (5, 10), axis=(0, 1))
    moved_mask = np.roll(mask, (5, 10), axis=(0, 1))
    assert np.abs(result.astype(int) - expected)[moved_mask].max() <= 2
    # Where the character was and is no more, the (black) background shows.
    assert result[mask & ~moved_mask].max() <= 2


def test_limbs_follow_the_driving_bones_rigidly():
    image, _ = _character(BODY)
    driving = BODY.copy()
    elbow, wrist = BODY_INDEX["right_elbow"], BODY_INDEX["right_wrist"]
    driving[wrist] = driving[elbow] + [0.0, 14.0]  # the forearm now hangs straight down
    knee, ankle = BODY_INDEX["left_knee"], BODY_INDEX["left_ankle"]
    driving[ankle] = driving[knee] + [0.0, 24.0]  # and the left shin is 1.5x longer
    result = rigid_warp(image, _pose(BODY), _pose(driving), background=np.zeros_like(image))[0]
    # The red forearm is drawn along the new bone ...
    for t in (0.3, 0.6, 0.9):
        x, y = np.round(driving[elbow] + t * (driving[wrist] - driving[elbow])).astype(int)
        assert tuple(result[y, x]) == pytest.approx(RED, abs=3)
    # ... and is gone from the old one.
    x, y = np.round(BODY[elbow] + 0.9 * (BODY[wrist] - BODY[elbow])).astype(int)
    assert result[y, x].max() <= 2
    # The shin is stretched onto the longer bone: the rigid imposition of the driving proportions.
    x, y = np.round(driving[ankle] - [0, 2]).astype(int)
    assert result[y, x, 1] >= 250


def test_default_background_removes_the_character_and_hidden_limbs_are_skipped():
    scene = np.full((SIZE, SIZE, 3), 90, np.uint8)
    image, mask = _character(BODY)
    image = np.where(mask[..., None], image, scene)
    driving = PoseSequence.from_body(np.stack([BODY + [0.0, 40.0]]), SIZE, SIZE)
    driving.keypoints[0, BODY_INDEX["right_wrist"], 2] = 0.0  # the forearm is not visible
    result = rigid_warp(image, _pose(BODY), driving, reference_mask=mask)[0]
    # The old place of the head is now inpainted scene, not a copy of the character.
    y, x = BODY[BODY_INDEX["neck"]].astype(int)[::-1]
    assert np.abs(result[y, x].astype(int) - 90).max() <= 10
    # The forearm was skipped: only the red pixels near the elbow that the upper arm's cut-out carries
    # come along, none near where the wrist would be.
    red = (result[..., 0] > 200) & (result[..., 1] < 50)
    assert red.sum() < 0.5 * ((image[..., 0] > 200) & (image[..., 1] < 50)).sum()
    x, y = np.round(BODY[BODY_INDEX["right_wrist"]] + [0.0, 40.0]).astype(int)
    assert not red[y - 4 : y + 5, x - 4 : x + 5].any()


def test_rigid_warp_rescales_driving_coordinates_and_validates():
    image, _ = _character(BODY)
    big = PoseSequence.from_body(BODY[None] * 2, SIZE * 2, SIZE * 2)  # same pose on a 2x canvas
    result = rigid_warp(image, _pose(BODY), big, background=np.zeros_like(image))
    same = rigid_warp(image, _pose(BODY), _pose(BODY), background=np.zeros_like(image))
    assert np.abs(result.astype(int) - same).max() <= 1
    with pytest.raises(ValueError, match="reference_mask"):
        rigid_warp(image, _pose(BODY), _pose(BODY), reference_mask=np.ones((SIZE, SIZE)))
    with pytest.raises(ValueError, match="height, width, 3"):
        rigid_warp(image[..., 0], _pose(BODY), _pose(BODY))
