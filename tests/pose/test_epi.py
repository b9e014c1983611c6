import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

# A sibling test module (pytest puts this folder on sys.path): one random-skeleton generator for both.
from test_retarget import missing_rates, random_sequence, seeds, shown_bones

from animatex.errors import AnimatexError
from animatex.pose.epi import (
    BODY_LIMB_GROUPS,
    DEFAULT_SCALE_RANGES,
    PARTS,
    RESCALE_OPS,
    SCALE_OPS,
    EPIConfig,
    PosePool,
    add_parts,
    addable_parts,
    drop_parts,
    droppable_parts,
    explicit_pose_indicator,
    realign,
    rescale_face,
)
from animatex.pose.kinematics import bone_angles, bone_lengths
from animatex.pose.retarget import limb_index
from animatex.pose.sequence import PoseSequence
from animatex.pose.skeleton import BODY_INDEX, BODY_LIMBS, FACE, LEFT_HAND, RIGHT_HAND

FAST = settings(max_examples=20, deadline=None)
NECK = BODY_INDEX["neck"]


def lengths_of(sequence: PoseSequence) -> np.ndarray:
    return bone_lengths(sequence.body[..., :2])


def turns(a: PoseSequence, b: PoseSequence) -> np.ndarray:
    return np.cos(bone_angles(a.body[..., :2]) - bone_angles(b.body[..., :2]))


@pytest.fixture(scope="module")
def pool() -> PosePool:
    rng = np.random.default_rng(123)
    return PosePool([random_sequence(rng, frames=10) for _ in range(5)], frames_per_sequence=4)


# ---- realignment -------------------------------------------------------------------------------


@FAST
@given(seeds, missing_rates, missing_rates)
def test_realign_takes_anchor_lengths_keeps_directions_and_visibility(seed, missing, anchor_missing):
    rng = np.random.default_rng(seed)
    sequence = random_sequence(rng, frames=5, missing=missing)
    anchor = random_sequence(rng, frames=1, missing=anchor_missing)
    out = realign(sequence, anchor)
    assert out.keypoints.shape == sequence.keypoints.shape
    assert (out.width, out.height) == (sequence.width, sequence.height)
    np.testing.assert_array_equal(out.visible(), sequence.visible())
    shown = shown_bones(sequence)
    both = shown & shown_bones(anchor)[0]
    want = np.broadcast_to(lengths_of(anchor)[0], both.shape)
    np.testing.assert_allclose(lengths_of(out)[both], want[both], atol=1e-2)
    np.testing.assert_allclose(turns(out, sequence)[shown], 1.0, atol=1e-5)


@FAST
@given(seeds)
def test_realign_keeps_root_start_and_scales_root_motion(seed):
    rng = np.random.default_rng(seed)
    sequence = random_sequence(rng, frames=5)
    anchor = random_sequence(rng, frames=1)
    out = realign(sequence, anchor)
    scale = lengths_of(anchor)[0].sum() / lengths_of(sequence)[0].sum()  # fixed lengths: median = any frame
    neck = sequence.body[:, NECK, :2]
    np.testing.assert_allclose(out.body[:, NECK, :2], neck[0] + scale * (neck - neck[0]), atol=1e-2)


def test_realign_converts_anchor_lengths_between_image_sizes():
    rng = np.random.default_rng(2)
    sequence = random_sequence(rng, height=512)
    anchor = random_sequence(rng, frames=1, width=256, height=256)
    out = realign(sequence, anchor)
    np.testing.assert_allclose(
        lengths_of(out), np.broadcast_to(2 * lengths_of(anchor)[0], (4, 17)), atol=1e-2
    )


def test_realign_needs_one_anchor_frame():
    sequence = random_sequence(np.random.default_rng(0))
    with pytest.raises(AnimatexError, match="single frame"):
        realign(sequence, sequence)


# ---- rescale operations ------------------------------------------------------------------------


@FAST
@given(seeds, st.sampled_from(SCALE_OPS), st.floats(0.5, 2.0), missing_rates)
def test_scale_ops_stretch_only_their_bones(seed, name, scale, missing):
    sequence = random_sequence(np.random.default_rng(seed), missing=missing)
    out = RESCALE_OPS[name](sequence, None, scale=scale)
    np.testing.assert_array_equal(out.visible(), sequence.visible())
    shown = shown_bones(sequence)
    factor = np.ones(len(BODY_LIMBS))
    factor[list(BODY_LIMB_GROUPS[name])] = scale
    want = lengths_of(sequence) * factor
    np.testing.assert_allclose(lengths_of(out)[shown], want[shown], rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(turns(out, sequence)[shown], 1.0, atol=1e-5)
    visible_neck = sequence.visible()[:, NECK]
    np.testing.assert_array_equal(out.body[visible_neck, NECK], sequence.body[visible_neck, NECK])


@FAST
@given(seeds, st.sampled_from(SCALE_OPS))
def test_scale_ops_draw_in_range_and_are_deterministic(seed, name):
    sequence = random_sequence(np.random.default_rng(0))
    op = RESCALE_OPS[name]
    a = op(sequence, np.random.default_rng(seed))
    b = op(sequence, np.random.default_rng(seed))
    np.testing.assert_array_equal(a.keypoints, b.keypoints)
    limb = BODY_LIMB_GROUPS[name][0]
    factor = lengths_of(a)[0, limb] / lengths_of(sequence)[0, limb]
    low, high = DEFAULT_SCALE_RANGES[name]
    assert low - 1e-4 <= factor <= high + 1e-4


def test_face_op_scales_face_points_about_the_nose():
    sequence = random_sequence(np.random.default_rng(4))
    out = rescale_face(sequence, scale=1.7)
    nose = BODY_INDEX["nose"]
    before = sequence.keypoints[:, FACE, :2] - sequence.body[:, nose, None, :2]
    after = out.keypoints[:, FACE, :2] - out.body[:, nose, None, :2]
    np.testing.assert_allclose(after, 1.7 * before, atol=1e-3)
    np.testing.assert_allclose(out.keypoints[:, LEFT_HAND], sequence.keypoints[:, LEFT_HAND], atol=1e-3)


def test_scale_op_without_generator_or_scale_says_what_to_pass():
    with pytest.raises(AnimatexError, match="Generator"):
        RESCALE_OPS["legs"](random_sequence(np.random.default_rng(0)))


def test_drop_parts_hides_the_limb_and_what_hangs_from_it():
    sequence = random_sequence(np.random.default_rng(1))
    out = drop_parts(sequence, parts=["right_arm", "head"])
    head = ("nose", "right_eye", "left_eye", "right_ear", "left_ear")
    hidden = [BODY_INDEX[n] for n in ("right_elbow", "right_wrist", *head)]
    hidden += list(range(RIGHT_HAND.start, RIGHT_HAND.stop)) + list(range(FACE.start, FACE.stop))
    assert not out.visible()[:, hidden].any()
    kept = np.setdiff1d(np.arange(134), hidden)
    np.testing.assert_array_equal(out.keypoints[:, kept], sequence.keypoints[:, kept])
    assert droppable_parts(out) == ["left_arm", "right_leg", "left_leg"]


def test_add_parts_restores_an_occluded_joint_from_its_nearest_frame():
    sequence = random_sequence(np.random.default_rng(8), frames=5)
    wrist, forearm = BODY_INDEX["left_wrist"], limb_index("left_elbow", "left_wrist")
    sequence.keypoints[2:4, wrist, 2] = 0.0
    assert addable_parts(sequence) == ["left_arm"]
    out = add_parts(sequence, parts=["left_arm"])
    assert out.visible()[:, wrist].all() and addable_parts(out) == []
    np.testing.assert_allclose(lengths_of(out)[:, forearm], lengths_of(sequence)[0, forearm], rtol=1e-5)
    angles = bone_angles(out.body[..., :2])[:, forearm]
    original = bone_angles(sequence.body[..., :2])[:, forearm]
    assert angles[2] == pytest.approx(original[1], abs=1e-5)  # ties go to the earlier frame
    assert angles[3] == pytest.approx(original[4], abs=1e-5)
    np.testing.assert_array_equal(out.keypoints[[0, 1, 4]], sequence.keypoints[[0, 1, 4]])


def test_add_parts_mirrors_a_limb_that_is_never_shown():
    sequence = random_sequence(np.random.default_rng(9), frames=3)
    right_leg = [BODY_INDEX[n] for n in ("right_knee", "right_ankle")]
    sequence.keypoints[:, right_leg, 2] = 0.0
    out = add_parts(sequence, parts=["right_leg"])
    assert out.visible()[:, right_leg].all()
    for right, left in ((("right_hip", "right_knee"), ("left_hip", "left_knee")),):
        r, l_ = limb_index(*right), limb_index(*left)
        np.testing.assert_allclose(lengths_of(out)[:, r], lengths_of(sequence)[:, l_], rtol=1e-5)
        mirrored = np.pi - bone_angles(sequence.body[..., :2])[:, l_]
        np.testing.assert_allclose(np.cos(bone_angles(out.body[..., :2])[:, r] - mirrored), 1.0, atol=1e-6)


def test_add_parts_uses_rest_pose_when_nothing_shows_the_limb():
    sequence = random_sequence(np.random.default_rng(10), frames=2)
    legs = [BODY_INDEX[n] for n in ("right_knee", "right_ankle", "left_knee", "left_ankle")]
    sequence.keypoints[:, legs, 2] = 0.0
    out = add_parts(sequence, parts=["right_leg", "left_leg"])
    shin = limb_index("left_knee", "left_ankle")
    np.testing.assert_allclose(bone_angles(out.body[..., :2])[:, shin], np.pi / 2, atol=1e-5)  # straight down
    assert (lengths_of(out)[:, shin] > 0).all()


def test_parts_ops_reject_unknown_parts():
    sequence = random_sequence(np.random.default_rng(0))
    for op in (add_parts, drop_parts):
        with pytest.raises(AnimatexError, match="right_arm"):
            op(sequence, parts=["tail"])


# ---- the pool ----------------------------------------------------------------------------------


def test_pool_keeps_evenly_spaced_good_frames(tmp_path):
    rng = np.random.default_rng(0)
    good = random_sequence(rng, frames=12)
    poor = random_sequence(rng, frames=3, missing=1.0)
    pool = PosePool([good, poor], frames_per_sequence=4)
    assert len(pool) == 4
    np.testing.assert_array_equal(pool[1].keypoints[0, :18], good.keypoints[4, :18])
    anchor = pool.sample(np.random.default_rng(5))
    assert len(anchor) == 1 and (anchor.width, anchor.height) == (512, 512)
    np.testing.assert_array_equal(anchor.keypoints, pool.sample(np.random.default_rng(5)).keypoints)

    good.save(tmp_path / "a" / "clip1" / "poses.npz")
    random_sequence(rng, frames=2).save(tmp_path / "b" / "poses.npz")
    (tmp_path / "b" / "other.npz").write_bytes(b"")
    assert len(PosePool.from_folder(tmp_path, frames_per_sequence=None)) == 14


def test_pool_says_what_to_do_when_empty(tmp_path):
    with pytest.raises(AnimatexError, match="min_visible_bones"):
        PosePool([PoseSequence.empty(4, 64, 64)])
    with pytest.raises(AnimatexError, match=r"no poses\.npz"):
        PosePool.from_folder(tmp_path)


# ---- EPI ---------------------------------------------------------------------------------------


def test_config_rejects_bad_values():
    with pytest.raises(AnimatexError, match="probability"):
        EPIConfig(probability=1.5)
    with pytest.raises(AnimatexError, match="unknown op"):
        EPIConfig(op_probabilities={"tail": 0.5})
    with pytest.raises(AnimatexError, match="low <= high"):
        EPIConfig(scale_ranges={"legs": (1.2, 0.8)})
    assert EPIConfig().probability == 0.98


@pytest.mark.parametrize("probability", [0.0, 0.7, 1.0])
def test_lambda_rate_is_respected(pool, probability):
    sequence = random_sequence(np.random.default_rng(1), frames=3)
    config = EPIConfig(probability=probability)
    generator = np.random.default_rng(2024)
    draws = 600
    applied = sum(explicit_pose_indicator(sequence, pool, config, generator)[1].applied for _ in range(draws))
    bound = 4 * np.sqrt(draws * probability * (1 - probability))
    assert abs(applied - draws * probability) <= bound


def test_op_rates_follow_their_probabilities(pool):
    sequence = random_sequence(np.random.default_rng(1), frames=2, missing=0.1)
    config = EPIConfig(probability=1.0, realign_probability=0.5)
    generator = np.random.default_rng(7)
    records = [explicit_pose_indicator(sequence, pool, config, generator)[1] for _ in range(400)]
    realigned = sum(r.anchor is not None for r in records)
    assert abs(realigned - 200) <= 4 * np.sqrt(100)
    legs = sum("legs" in r.ops for r in records)
    p = config.op_probabilities["legs"]
    assert abs(legs - 400 * p) <= 4 * np.sqrt(400 * p * (1 - p))
    for record in records:
        for name, params in record.ops.items():
            if name in SCALE_OPS:
                low, high = config.scale_ranges[name]
                assert low <= params["scale"] <= high
            else:
                assert set(params["parts"]) <= set(PARTS)
        assert ("realign" in record.names) == (record.anchor is not None)


@FAST
@given(seeds, missing_rates)
def test_epi_is_deterministic_and_keeps_visibility_outside_recorded_parts(seed, missing):
    rng = np.random.default_rng(seed)
    sequence = random_sequence(rng, frames=3, missing=missing)
    pool = PosePool([random_sequence(rng, frames=3)], min_visible_bones=0)
    config = EPIConfig(probability=1.0, op_probabilities={"add_parts": 0.5, "drop_parts": 0.5, "legs": 0.5})
    out, record = explicit_pose_indicator(sequence, pool, config, np.random.default_rng(seed))
    again, record_again = explicit_pose_indicator(sequence, pool, config, np.random.default_rng(seed))
    np.testing.assert_array_equal(out.keypoints, again.keypoints)
    assert record == record_again
    assert out.keypoints.shape == sequence.keypoints.shape
    if not {"add_parts", "drop_parts"} & set(record.ops):
        np.testing.assert_array_equal(out.visible(), sequence.visible())
    for part in record.ops.get("drop_parts", {}).get("parts", []):
        assert part in PARTS and part not in record.ops.get("add_parts", {}).get("parts", [])


def test_unapplied_epi_returns_an_equal_copy(pool):
    sequence = random_sequence(np.random.default_rng(1))
    out, record = explicit_pose_indicator(
        sequence, pool, EPIConfig(probability=0.0), np.random.default_rng(0)
    )
    assert not record.applied and record.names == ()
    np.testing.assert_array_equal(out.keypoints, sequence.keypoints)
    assert out.keypoints is not sequence.keypoints


def test_epi_without_pool_only_rescales():
    sequence = random_sequence(np.random.default_rng(1))
    config = EPIConfig(probability=1.0, op_probabilities={"arms": 1.0})
    out, record = explicit_pose_indicator(sequence, None, config, np.random.default_rng(0))
    assert record.anchor is None and list(record.ops) == ["arms"]
    arm = limb_index("left_shoulder", "left_elbow")
    assert lengths_of(out)[0, arm] == pytest.approx(
        lengths_of(sequence)[0, arm] * record.ops["arms"]["scale"], rel=1e-4
    )


def test_epi_needs_a_generator(pool):
    with pytest.raises(AnimatexError, match="Generator"):
        explicit_pose_indicator(random_sequence(np.random.default_rng(0)), pool)
