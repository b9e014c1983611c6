import numpy as np
import pytest

from animatex.errors import AnimatexError
from animatex.pose import PoseSequence
from animatex.pose.skeleton import BODY_INDEX, BODY_LIMBS, BODY_PARENT, KEYPOINT_FLIP, NUM_KEYPOINTS


def _sequence(frames=10, fps=30.0):
    rng = np.random.default_rng(0)
    return PoseSequence.from_body(rng.uniform(0, 100, (frames, 18, 2)), width=200, height=100, fps=fps)


def test_save_load_round_trip(tmp_path):
    seq = _sequence()
    loaded = PoseSequence.load(seq.save(tmp_path / "p.npz"))
    np.testing.assert_array_equal(loaded.keypoints, seq.keypoints)
    assert (loaded.width, loaded.height, loaded.fps) == (200, 100, 30.0)


def test_slicing_and_resample_keep_metadata():
    seq = _sequence()
    assert len(seq[2:5]) == 3 and len(seq[3]) == 1 and len(seq[-1]) == 1
    np.testing.assert_array_equal(seq[-1].keypoints[0], seq.keypoints[-1])
    half = seq.resample(15.0)
    assert len(half) == 5 and half.fps == 15.0
    np.testing.assert_array_equal(half.keypoints[1], seq.keypoints[2])


def test_mirrored_pose_reflects_x_and_renames_the_sides():
    rng = np.random.default_rng(1)
    seq = PoseSequence(rng.uniform(0, 1, (3, NUM_KEYPOINTS, 3)) * [200, 100, 1], width=200, height=100)
    mirrored = seq.mirrored()
    assert sorted(KEYPOINT_FLIP) == list(range(NUM_KEYPOINTS))
    np.testing.assert_allclose(mirrored.mirrored().keypoints, seq.keypoints, atol=1e-4)  # an involution
    left, right = BODY_INDEX["left_wrist"], BODY_INDEX["right_wrist"]
    np.testing.assert_allclose(mirrored.keypoints[:, right, 0], 199 - seq.keypoints[:, left, 0])
    np.testing.assert_allclose(mirrored.keypoints[:, right, 1:], seq.keypoints[:, left, 1:])
    nose = BODY_INDEX["nose"]
    np.testing.assert_allclose(mirrored.keypoints[:, nose, 0], 199 - seq.keypoints[:, nose, 0])
    # Face: the jaw's first point (the face's right end) and its last trade places; hands swap whole.
    np.testing.assert_allclose(mirrored.keypoints[:, 24, 1], seq.keypoints[:, 24 + 16, 1])
    np.testing.assert_allclose(mirrored.keypoints[:, 92:113, 1], seq.keypoints[:, 113:134, 1])
    assert (mirrored.width, mirrored.height, mirrored.fps) == (seq.width, seq.height, seq.fps)


def test_normalised_body_marks_invisible_points():
    seq = _sequence()
    seq.keypoints[0, 4, 2] = 0.1
    xy = seq.body_normalized()
    assert xy.shape == (10, 18, 2)
    assert (xy[0, 4] == -1).all()
    assert (xy[xy != -1] >= 0).all() and (xy[xy != -1] <= 1).all()


def test_bad_inputs_raise_clear_errors(tmp_path):
    with pytest.raises(AnimatexError, match="shape"):
        PoseSequence(np.zeros((3, 17, 3)), 10, 10)
    with pytest.raises(AnimatexError, match="not found"):
        PoseSequence.load(tmp_path / "missing.npz")
    (tmp_path / "bad.npz").write_bytes(b"garbage")
    with pytest.raises(AnimatexError, match="not an animatex pose file"):
        PoseSequence.load(tmp_path / "bad.npz")


def test_kinematic_tree_is_rooted_at_the_neck():
    assert BODY_PARENT[1] == -1 and len(BODY_LIMBS) == 17
    for parent in BODY_PARENT:
        seen = set()
        while parent != -1:
            assert parent not in seen
            seen.add(parent)
            parent = BODY_PARENT[parent]


@pytest.mark.parametrize(
    ("keypoints", "message"),
    [
        (
            np.full((4, NUM_KEYPOINTS, 3), np.nan, np.float32),
            "NaN or infinite keypoints in 4 frame(s) (first: frame 0)",
        ),
        (np.zeros((0, NUM_KEYPOINTS, 3), np.float32), "has no frames"),
    ],
)
def test_load_refuses_non_finite_and_empty_pose_files(tmp_path, keypoints, message):
    path = tmp_path / "poses.npz"
    np.savez(path, keypoints=keypoints, image_size=np.array([64, 64]), fps=np.array(16.0))
    with pytest.raises(AnimatexError) as error:
        PoseSequence.load(path)
    assert message in str(error.value) and str(path) in str(error.value)


def test_load_refuses_an_infinite_point_and_frame_rate(tmp_path):
    seq = PoseSequence.empty(3, 64, 64)
    keypoints = seq.keypoints.copy()
    keypoints[2, 7, 1] = np.inf
    np.savez(tmp_path / "a.npz", keypoints=keypoints, image_size=np.array([64, 64]), fps=np.array(16.0))
    with pytest.raises(AnimatexError, match=r"1 frame\(s\) \(first: frame 2\)"):
        PoseSequence.load(tmp_path / "a.npz")
    np.savez(tmp_path / "b.npz", keypoints=seq.keypoints, image_size=np.array([64, 64]), fps=np.array(np.inf))
    with pytest.raises(AnimatexError, match="frame rate inf"):
        PoseSequence.load(tmp_path / "b.npz")
