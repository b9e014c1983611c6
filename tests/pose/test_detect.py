"""extract_poses with detectors: real mediapipe on scikit-image photos, and scripted detections."""

import numpy as np
import pytest
from skimage import data

from animatex.errors import AnimatexError
from animatex.pose.detect import Detector, extract_poses, make_detector
from animatex.pose.sequence import PoseSequence
from animatex.pose.skeleton import BODY_INDEX, NUM_KEYPOINTS


def person(cx: float, cy: float, height: float) -> np.ndarray:
    """A crude body: 18 points spread over a box of `height` x height/2 centred at (cx, cy)."""
    points = np.zeros((NUM_KEYPOINTS, 3), np.float32)
    t = np.linspace(-0.5, 0.5, 18)
    points[:18, 0] = cx + t[::-1] * height / 2
    points[:18, 1] = cy + t * height
    points[:18, 2] = 0.9
    return points


class ScriptedDetector:
    """Replays fixed detections, one array per call: drives extract_poses without a network."""

    def __init__(self, detections):
        self.detections = list(detections)
        self.calls = 0

    def detect(self, image):
        out = self.detections[self.calls]
        self.calls += 1
        return out


@pytest.fixture(scope="module")
def astronaut_pose() -> PoseSequence:
    return extract_poses(data.astronaut()[None], fps=16, progress=False, name="astronaut")


def point(seq: PoseSequence, name: str) -> np.ndarray:
    return seq.keypoints[0, BODY_INDEX[name]]


def inside(xy, box) -> bool:
    x0, y0, x1, y1 = box
    return x0 <= xy[0] <= x1 and y0 <= xy[1] <= y1


def test_astronaut_keypoints_lie_on_the_body(astronaut_pose):
    # Boxes read off the 512 x 512 photo: the face spans x 175-275, y 60-185; her right arm (image left)
    # runs down the left edge to the elbow near (60, 410) and the gloved hand near (150, 490).
    seq = astronaut_pose
    assert (seq.width, seq.height, len(seq)) == (512, 512, 1)
    nose = point(seq, "nose")
    assert nose[2] >= 0.3 and inside(nose, (190, 95, 255, 160))
    for eye in ("right_eye", "left_eye"):
        assert inside(point(seq, eye), (175, 80, 275, 140))
    right_shoulder, left_shoulder = point(seq, "right_shoulder"), point(seq, "left_shoulder")
    assert right_shoulder[2] >= 0.3 and left_shoulder[2] >= 0.3
    assert inside(right_shoulder, (60, 200, 170, 300)) and inside(left_shoulder, (270, 200, 370, 310))
    assert right_shoulder[1] > nose[1] + 60 and left_shoulder[1] > nose[1] + 60
    assert right_shoulder[0] < nose[0] < left_shoulder[0]  # she faces the camera
    neck = point(seq, "neck")
    np.testing.assert_allclose(neck[:2], (right_shoulder[:2] + left_shoulder[:2]) / 2, atol=1e-3)
    assert inside(point(seq, "right_elbow"), (15, 340, 130, 460))
    assert point(seq, "right_elbow")[2] >= 0.3
    assert inside(point(seq, "right_wrist"), (90, 420, 200, 512))
    assert inside(point(seq, "left_elbow"), (270, 310, 370, 440))
    # Legs are out of the picture: invisible, as are points the camera cannot see.
    for leg in ("right_knee", "left_knee", "right_ankle", "left_ankle"):
        assert point(seq, leg)[2] < 0.3
    face = seq.face[0]
    assert (face[:, 2] >= 0.3).all() and inside(face[:, :2].mean(0), (185, 90, 265, 170))


def test_no_person_in_coffee_is_a_clear_error():
    with pytest.raises(AnimatexError, match="no person found in coffee"):
        extract_poses(data.coffee()[None], fps=16, progress=False, name="coffee")


def test_mediapipe_detector_interface():
    detector = make_detector("mediapipe", video=False)
    try:
        assert isinstance(detector, Detector)
        persons = detector.detect(data.astronaut())
        assert persons.shape == (1, NUM_KEYPOINTS, 3) and persons.dtype == np.float32
        assert persons[..., 2].min() >= 0 and persons[..., 2].max() <= 1
        assert detector.detect(data.coffee()).shape == (0, NUM_KEYPOINTS, 3)
        with pytest.raises(AnimatexError, match="RGB uint8"):
            detector.detect(data.camera())
    finally:
        detector.close()


def test_extract_poses_tracks_warns_and_smooths():
    rng = np.random.default_rng(0)
    frames = np.zeros((8, 200, 200, 3), np.uint8)
    detections = []
    for f in range(8):
        main = person(100 + 5 * f, 100, 150)
        main[:18, :2] += rng.normal(0, 2, (18, 2))
        detections.append(np.stack([person(40, 120, 100), main]))
    detections[4] = np.zeros((0, NUM_KEYPOINTS, 3), np.float32)
    with pytest.warns(UserWarning, match=r"1 of 8 frames of clip \(frames 4\)"):
        raw = extract_poses(
            frames, 8, smooth=False, progress=False, detector=ScriptedDetector(detections), name="clip"
        )
    assert isinstance(raw, PoseSequence) and (len(raw), raw.width, raw.height, raw.fps) == (8, 200, 200, 8)
    assert raw.keypoints[4, :, 2].max() == 0
    np.testing.assert_array_equal(raw.keypoints[7], detections[7][1])
    with pytest.warns(UserWarning):
        smooth = extract_poses(frames, 8, progress=False, detector=ScriptedDetector(detections))
    assert not np.array_equal(smooth.keypoints, raw.keypoints)
    np.testing.assert_array_equal(smooth.keypoints[..., 2], raw.keypoints[..., 2])
    assert np.abs(smooth.keypoints[..., :2] - raw.keypoints[..., :2]).max() < 15


def test_extract_poses_input_errors():
    empty = [np.zeros((0, NUM_KEYPOINTS, 3), np.float32)] * 2
    frames = np.zeros((2, 16, 16, 3), np.uint8)
    with pytest.raises(AnimatexError, match="no person found in blank"):
        extract_poses(frames, 16, progress=False, detector=ScriptedDetector(empty), name="blank")
    with pytest.raises(AnimatexError, match="frames"):
        extract_poses(np.zeros((16, 16, 3), np.uint8), 16, progress=False)
    with pytest.raises(AnimatexError, match="uint8"):
        extract_poses(frames.astype(np.float32), 16, progress=False)
    with pytest.raises(AnimatexError, match="fps"):
        extract_poses(frames, 0, progress=False, detector=ScriptedDetector(empty))
    with pytest.raises(AnimatexError, match="unknown pose backend"):
        make_detector("openpose")
    with pytest.raises(AnimatexError, match="dwpose-dir"):
        make_detector("dwpose")
    with pytest.raises(AnimatexError, match="only applies to the dwpose backend"):
        make_detector("mediapipe", dwpose_dir="weights/dwpose")
    with pytest.raises(AnimatexError, match="detect"):
        extract_poses(frames, 16, progress=False, detector=object())
    wrong = [np.zeros((2, 67, 3), np.float32)] * 2  # a detector that breaks the (P, 134, 3) contract
    with pytest.raises(AnimatexError, match=r"frame 0: detections must have shape \(P, 134, 3\)"):
        extract_poses(frames, np.float32(16), progress=False, detector=ScriptedDetector(wrong))
