import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from animatex.errors import AnimatexError
from animatex.pose.kinematics import bone_angles, bone_lengths, forward_kinematics
from animatex.pose.retarget import ALIGN_MODES, align, limb_index
from animatex.pose.sequence import PoseSequence
from animatex.pose.skeleton import BODY, BODY_INDEX, BODY_LIMBS, LEFT_HAND, NUM_KEYPOINTS

FAST = settings(max_examples=25, deadline=None)
seeds = st.integers(0, 2**32 - 1)
missing_rates = st.sampled_from([0.0, 0.1, 0.3])
PARENTS = [p for p, _ in BODY_LIMBS]
CHILDREN = [c for _, c in BODY_LIMBS]


def random_sequence(
    rng: np.random.Generator,
    frames: int = 4,
    missing: float = 0.0,
    width: int = 512,
    height: int = 512,
    lengths: np.ndarray | None = None,
) -> PoseSequence:
    """A skeleton with fixed bone lengths and random angles; feet, face and hands near their joints."""
    lengths = rng.uniform(10, 60, len(BODY_LIMBS)) if lengths is None else lengths
    roots = rng.uniform(150, 350, 2) + np.cumsum(rng.normal(0, 5, (frames, 2)), axis=0)
    body = forward_kinematics(roots, rng.uniform(-np.pi, np.pi, (frames, len(BODY_LIMBS))), lengths)
    keypoints = np.zeros((frames, NUM_KEYPOINTS, 3))
    keypoints[:, BODY, :2] = body
    attach = np.zeros(NUM_KEYPOINTS, int)
    attach[BODY] = np.arange(18)
    attach[18:21], attach[21:24] = BODY_INDEX["left_ankle"], BODY_INDEX["right_ankle"]
    attach[24:92], attach[92:113], attach[113:] = (
        BODY_INDEX["nose"],
        BODY_INDEX["left_wrist"],
        BODY_INDEX["right_wrist"],
    )
    keypoints[:, 18:, :2] = body[:, attach[18:]] + rng.normal(0, 8, (frames, NUM_KEYPOINTS - 18, 2))
    keypoints[..., 2] = np.where(
        rng.random((frames, NUM_KEYPOINTS)) < missing, 0.1, rng.uniform(0.4, 1.0, (frames, NUM_KEYPOINTS))
    )
    return PoseSequence(keypoints, width, height)


def shown_bones(sequence: PoseSequence) -> np.ndarray:
    visible = sequence.visible()[:, BODY]
    return visible[:, PARENTS] & visible[:, CHILDREN]


def box_height(points: np.ndarray) -> float:
    return float(points[:, 1].max() - points[:, 1].min())


@FAST
@given(seeds, st.sampled_from(ALIGN_MODES), missing_rates)
def test_align_keeps_point_count_visibility_and_takes_reference_size(seed, mode, missing):
    rng = np.random.default_rng(seed)
    driving = random_sequence(rng, missing=missing, width=640, height=360)
    reference = random_sequence(rng, frames=1, width=480, height=832)
    out = align(driving, reference, mode)
    assert out.keypoints.shape == driving.keypoints.shape
    assert (out.width, out.height, out.fps) == (480, 832, driving.fps)
    np.testing.assert_array_equal(out.visible(), driving.visible())
    assert np.isfinite(out.keypoints).all()


@FAST
@given(seeds, missing_rates)
def test_align_none_is_identity(seed, missing):
    rng = np.random.default_rng(seed)
    driving = random_sequence(rng, missing=missing)
    out = align(driving, random_sequence(rng, frames=1), "none")
    np.testing.assert_array_equal(out.keypoints, driving.keypoints)


def test_align_none_only_resizes_to_the_reference_image():
    driving = random_sequence(np.random.default_rng(0), width=200, height=100)
    reference = PoseSequence.empty(1, 400, 300)
    out = align(driving, reference, "none")
    np.testing.assert_allclose(out.keypoints[..., 0], driving.keypoints[..., 0] * 2, rtol=1e-6)
    np.testing.assert_allclose(out.keypoints[..., 1], driving.keypoints[..., 1] * 3, rtol=1e-6)


@FAST
@given(seeds)
def test_align_global_maps_first_frame_box_onto_reference(seed):
    rng = np.random.default_rng(seed)
    driving = random_sequence(rng, width=640, height=360)
    reference = random_sequence(rng, frames=1, width=480, height=832)
    out = align(driving, reference, "global")
    ref_body, out_body = reference.body[0, :, :2], out.body[0, :, :2]
    assert box_height(out_body) == pytest.approx(box_height(ref_body), rel=1e-4)
    centre = lambda p: (p.min(axis=0) + p.max(axis=0)) / 2  # noqa: E731
    np.testing.assert_allclose(centre(out_body), centre(ref_body), atol=1e-2)
    # One similarity for every frame: all bone directions are kept.
    np.testing.assert_allclose(
        np.cos(bone_angles(out.body[..., :2]) - bone_angles(driving.body[..., :2])), 1, atol=1e-5
    )


def test_align_global_ignores_joints_the_reference_does_not_show():
    rng = np.random.default_rng(3)
    driving = random_sequence(rng)
    reference = random_sequence(rng, frames=1)
    legs = [BODY_INDEX[name] for name in ("right_knee", "right_ankle", "left_knee", "left_ankle")]
    reference.keypoints[0, legs, 2] = 0.0
    upper = np.setdiff1d(np.arange(18), legs)
    out = align(driving, reference, "global")
    expected = box_height(reference.body[0, upper, :2])
    assert box_height(out.body[0, upper, :2]) == pytest.approx(expected, rel=1e-4)


@FAST
@given(seeds, missing_rates)
def test_align_bones_takes_reference_lengths_and_driving_directions(seed, missing):
    rng = np.random.default_rng(seed)
    driving = random_sequence(rng, missing=missing)
    reference = random_sequence(rng, frames=1, missing=missing)
    out = align(driving, reference, "bones")
    shown = shown_bones(driving)
    both = shown & shown_bones(reference)[0]
    want = np.broadcast_to(bone_lengths(reference.body[0, :, :2]), both.shape)
    np.testing.assert_allclose(bone_lengths(out.body[..., :2])[both], want[both], atol=1e-2)
    turn = bone_angles(out.body[..., :2]) - bone_angles(driving.body[..., :2])
    np.testing.assert_allclose(np.cos(turn[shown]), 1.0, atol=1e-5)


@FAST
@given(seeds)
def test_align_bones_starts_at_reference_neck_and_scales_root_motion(seed):
    rng = np.random.default_rng(seed)
    driving = random_sequence(rng)
    reference = random_sequence(rng, frames=1)
    out = align(driving, reference, "bones")
    scale = box_height(reference.body[0, :, :2]) / box_height(driving.body[0, :, :2])
    neck = BODY_INDEX["neck"]
    expected = reference.body[0, neck, :2] + scale * (driving.body[:, neck, :2] - driving.body[0, neck, :2])
    np.testing.assert_allclose(out.body[:, neck, :2], expected, atol=1e-2)


@FAST
@given(seeds)
def test_align_bones_onto_own_first_frame_is_identity(seed):
    # Fixed bone lengths: the first frame already has every frame's proportions and position.
    driving = random_sequence(np.random.default_rng(seed))
    out = align(driving, driving[0], "bones")
    np.testing.assert_allclose(out.keypoints, driving.keypoints, atol=1e-3)


def test_short_legged_reference_keeps_short_legs():
    rng = np.random.default_rng(7)
    human = np.full(len(BODY_LIMBS), 40.0)
    character = human.copy()
    legs = [limb_index(*pair) for pair in (("right_hip", "right_knee"), ("right_knee", "right_ankle"))]
    legs += [limb_index(*pair) for pair in (("left_hip", "left_knee"), ("left_knee", "left_ankle"))]
    character[legs] = 15.0
    driving = random_sequence(rng, frames=6, lengths=human)
    reference = random_sequence(rng, frames=1, lengths=character)
    naive = align(driving, reference, "global")
    out = align(driving, reference, "bones")
    np.testing.assert_allclose(bone_lengths(out.body[..., :2])[:, legs], 15.0, atol=1e-3)
    torso = limb_index("neck", "right_hip")
    ratio = lambda s: bone_lengths(s.body[..., :2])[:, legs[0]] / bone_lengths(s.body[..., :2])[:, torso]  # noqa: E731
    np.testing.assert_allclose(ratio(out), 15.0 / 40.0, rtol=1e-4)
    assert (ratio(naive) > 0.9).all()  # the plain similarity keeps human legs


def test_hands_follow_the_wrist_scaled_with_the_forearm():
    rng = np.random.default_rng(11)
    driving = random_sequence(rng, frames=3)
    reference = random_sequence(rng, frames=1)
    out = align(driving, reference, "bones")
    wrist, forearm = BODY_INDEX["left_wrist"], limb_index("left_elbow", "left_wrist")
    ratio = bone_lengths(reference.body[0, :, :2])[forearm] / bone_lengths(driving.body[..., :2])[:, forearm]
    before = driving.keypoints[:, LEFT_HAND, :2] - driving.body[:, wrist, None, :2]
    after = out.keypoints[:, LEFT_HAND, :2] - out.body[:, wrist, None, :2]
    np.testing.assert_allclose(after, ratio[:, None, None] * before, atol=1e-2)


def test_reference_bone_it_does_not_show_falls_back_to_scaled_driving_length():
    rng = np.random.default_rng(5)
    driving = random_sequence(rng)
    reference = random_sequence(rng, frames=1)
    reference.keypoints[0, BODY_INDEX["left_wrist"], 2] = 0.0
    forearm = limb_index("left_elbow", "left_wrist")
    scale = box_height(np.delete(reference.body[0, :, :2], BODY_INDEX["left_wrist"], 0)) / box_height(
        np.delete(driving.body[0, :, :2], BODY_INDEX["left_wrist"], 0)
    )
    out = align(driving, reference, "bones")
    want = scale * bone_lengths(driving.body[..., :2])[:, forearm]
    np.testing.assert_allclose(bone_lengths(out.body[..., :2])[:, forearm], want, rtol=1e-4)


def test_align_rejects_bad_input():
    rng = np.random.default_rng(0)
    driving, reference = random_sequence(rng), random_sequence(rng, frames=1)
    with pytest.raises(AnimatexError, match="none, global, bones"):
        align(driving, reference, "stretch")
    with pytest.raises(AnimatexError, match="single frame"):
        align(driving, driving, "bones")
    with pytest.raises(AnimatexError, match="no visible body"):
        align(driving, PoseSequence.empty(1, 64, 64), "global")


def test_align_of_an_empty_detection_stays_invisible():
    driving = PoseSequence.empty(3, 320, 240)
    out = align(driving, random_sequence(np.random.default_rng(0), frames=1), "bones")
    assert not out.visible().any()
    assert np.isfinite(out.keypoints).all()
