"""A2Bench-Synth cases: determinism, retargeted ground truth, masks, splits."""

import cv2
import numpy as np
import pytest

from animatex.data.characters import HELD_OUT_TEMPLATES, TEMPLATES
from animatex.data.motions import MOTION_FAMILIES, mirror_angles, sample_motion
from animatex.data.world import HELD_OUT_MOTIONS, make_case
from animatex.errors import AnimatexError
from animatex.pose.kinematics import bone_angles, bone_lengths, forward_kinematics

SIZE, FRAMES = 64, 9


@pytest.fixture(scope="module")
def case():
    return make_case(11, "anthro", "test", 3, SIZE, FRAMES)


def _same_direction(a, b, atol=1e-4):
    np.testing.assert_allclose(np.cos(a - b), 1.0, atol=atol)


def test_same_seed_same_case_other_seed_other_case(case):
    again = make_case(11, "anthro", "test", 3, SIZE, FRAMES)
    for field in ("reference", "driving", "target", "masks", "background"):
        np.testing.assert_array_equal(getattr(case, field), getattr(again, field))
    np.testing.assert_array_equal(case.poses.keypoints, again.poses.keypoints)
    assert case.meta == again.meta and case.caption == again.caption
    other = make_case(12, "anthro", "test", 3, SIZE, FRAMES)
    assert not np.array_equal(case.target, other.target)


def test_train_and_test_streams_differ():
    # The same seed and index in another subset is another clip (disjoint by construction).
    train = make_case(5, "human", "train", 0, 32, 2)
    test = make_case(5, "human", "test", 0, 32, 2)
    assert not np.array_equal(train.poses.keypoints, test.poses.keypoints)
    assert train.meta["reference_character"] != test.meta["reference_character"]


def test_target_keypoints_are_the_retargeted_motion(case):
    driving = case.poses.body[..., :2].astype(np.float64)
    target = case.target_poses.body[..., :2].astype(np.float64)
    reference = case.reference_pose.body[0, :, :2].astype(np.float64)
    # Same bone directions in every frame...
    _same_direction(bone_angles(target), bone_angles(driving))
    # ...with the reference character's own bone lengths, constant over the clip...
    np.testing.assert_allclose(
        bone_lengths(target), np.broadcast_to(bone_lengths(reference), (FRAMES, 17)), rtol=1e-4
    )
    # ...which really differ from the driver's proportions (an anthropomorphic target).
    ratio = bone_lengths(target[0]) / bone_lengths(driving[0])
    assert ratio.max() / ratio.min() > 1.2
    # So retargeting the driving pose by bone lengths from the target's neck rebuilds the target.
    rebuilt = forward_kinematics(target[:, 1], bone_angles(driving), bone_lengths(reference))
    np.testing.assert_allclose(rebuilt, target, atol=2e-3)
    np.testing.assert_array_equal(case.reference_pose.keypoints[0], case.target_poses.keypoints[0])
    assert (case.poses.visible()[:, :18]).all() and not case.poses.visible()[:, 18:].any()


def test_reference_image_is_the_first_ground_truth_frame(case):
    np.testing.assert_array_equal(case.reference, case.target[0])


def test_masks_match_the_rendered_character(case):
    changed = np.abs(case.target.astype(int) - case.background.astype(int)).max(-1) > 12
    kernel = np.ones((3, 3), np.uint8)
    for mask, diff in zip(case.masks, changed, strict=True):
        grown = cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)
        assert not (diff & ~grown).any(), "pixels changed outside the mask"
        core = cv2.erode(mask.astype(np.uint8), kernel).astype(bool)  # away from anti-aliased edges
        assert diff[core].mean() > 0.9, "mask covers pixels the character did not paint"
    # The character covers its torso joints.
    for mask, body in zip(case.masks, case.target_poses.body, strict=True):
        for joint in (1, 8, 11):
            x, y = np.round(body[joint, :2]).astype(int)
            assert mask[y, x]


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_every_template_stays_inside_the_frame(template):
    split = TEMPLATES[template].kind
    for k, family in enumerate(MOTION_FAMILIES):
        c = make_case(k, split, "test", 0, 48, 9, template=template, family=family)
        border = np.concatenate([c.masks[:, 0], c.masks[:, -1], c.masks[:, :, 0], c.masks[:, :, -1]], axis=1)
        assert not border.any(), f"{template} leaves the frame in {family}"
        assert c.masks.mean() > 0.02


def test_train_holds_out_templates_and_motions():
    seen = {"train": set(), "test": set()}
    motions = {"train": set(), "test": set()}
    for subset in ("train", "test"):
        for index in range(60):
            meta = make_case(0, "anthro" if index % 2 else "human", subset, index, 32, 1).meta
            seen[subset].add(meta["reference_character"]["template"])
            motions[subset].add(meta["motion"]["family"])
            assert meta["driving_character"]["kind"] == "human"
    assert not seen["train"] & HELD_OUT_TEMPLATES and not motions["train"] & HELD_OUT_MOTIONS
    assert seen["test"] & HELD_OUT_TEMPLATES and motions["test"] & HELD_OUT_MOTIONS


def test_motion_families_move_and_mirror():
    rng = np.random.default_rng(0)
    assert len(MOTION_FAMILIES) >= 10
    for family in MOTION_FAMILIES:
        motion = sample_motion(family, 33, rng)
        assert motion.angles.shape == (33, 17) and motion.root.shape == (33, 2)
        assert np.isfinite(motion.angles).all()
        body = forward_kinematics(np.zeros(2), motion.angles, np.ones(17))
        assert np.ptp(body, axis=0).max() > 0.3, f"{family} barely moves"
    angles = sample_motion("wave", 5, rng).angles
    _same_direction(mirror_angles(mirror_angles(angles)), angles, 1e-12)


def test_bad_arguments_are_refused():
    with pytest.raises(AnimatexError, match="multiple of 16"):
        make_case(0, "human", size=50)
    with pytest.raises(AnimatexError, match="split"):
        make_case(0, "robots")
    with pytest.raises(AnimatexError, match="motion family"):
        make_case(0, "human", size=32, num_frames=2, family="moonwalk")
