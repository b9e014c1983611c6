"""The OpenPose-18 body skeleton and the DWPose whole-body layout (the DWPose annotator, github.com/IDEA-Research/DWPose).

One keypoint array of 134 points per frame, in this order:
  body 18 (OpenPose order) | feet 6 | face 68 | left hand 21 | right hand 21.
"""

from __future__ import annotations

BODY_NAMES: tuple[str, ...] = (
    "nose", "neck",
    "right_shoulder", "right_elbow", "right_wrist",
    "left_shoulder", "left_elbow", "left_wrist",
    "right_hip", "right_knee", "right_ankle",
    "left_hip", "left_knee", "left_ankle",
    "right_eye", "left_eye", "right_ear", "left_ear",
)  # fmt: skip
BODY_INDEX: dict[str, int] = {name: i for i, name in enumerate(BODY_NAMES)}

# COCO-WholeBody foot order, as DWPose emits it.
FEET_NAMES: tuple[str, ...] = (
    "left_big_toe", "left_small_toe", "left_heel",
    "right_big_toe", "right_small_toe", "right_heel",
)  # fmt: skip

NUM_BODY, NUM_FEET, NUM_FACE, NUM_HAND = 18, 6, 68, 21
BODY = slice(0, 18)
FEET = slice(18, 24)
FACE = slice(24, 92)
LEFT_HAND = slice(92, 113)
RIGHT_HAND = slice(113, 134)
HANDS = slice(92, 134)
NUM_KEYPOINTS = 134

# The 17 OpenPose limbs as (parent, child) body indices; drawing order and colours follow this list.
BODY_LIMBS: tuple[tuple[int, int], ...] = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7),
    (1, 8), (8, 9), (9, 10), (1, 11), (11, 12), (12, 13),
    (1, 0), (0, 14), (14, 16), (0, 15), (15, 17),
)  # fmt: skip

# Kinematic tree rooted at the neck: BODY_PARENT[j] is the parent of body joint j (-1 for the root).
BODY_PARENT: tuple[int, ...] = tuple(
    -1 if j == 1 else next(p for p, c in BODY_LIMBS if c == j) for j in range(NUM_BODY)
)

# Feet hang from the ankles (indices into the whole 134-point array).
FEET_PARENT: tuple[int, ...] = (13, 13, 13, 10, 10, 10)

# The 18 standard OpenPose colours (RGB), one per joint / limb.
BODY_COLORS: tuple[tuple[int, int, int], ...] = (
    (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0),
    (0, 255, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255),
    (0, 0, 255), (85, 0, 255), (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85),
)  # fmt: skip

# Hand bones (21-point hand, wrist = 0): five fingers of four bones each.
HAND_EDGES: tuple[tuple[int, int], ...] = tuple(
    (0 if k == 0 else 4 * f + k, 4 * f + k + 1) for f in range(5) for k in range(4)
)

# Left/right body joints swapped by a horizontal flip.
BODY_FLIP: tuple[int, ...] = (0, 1, 5, 6, 7, 2, 3, 4, 11, 12, 13, 8, 9, 10, 15, 14, 17, 16)

# The 68-point face (iBUG order) under a horizontal flip: jaw, brows, nose, eyes and lips mirror.
_FACE_FLIP: tuple[int, ...] = (
    *range(16, -1, -1),  # jaw 0..16
    *range(26, 21, -1),  # brows 17..21 <-> 26..22
    *range(21, 16, -1),
    27, 28, 29, 30,  # nose bridge
    35, 34, 33, 32, 31,  # nostrils
    45, 44, 43, 42, 47, 46,  # right eye <-> left eye
    39, 38, 37, 36, 41, 40,
    54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55,  # outer lips
    64, 63, 62, 61, 60, 67, 66, 65,  # inner lips
)  # fmt: skip

# All 134 points under a horizontal flip: KEYPOINT_FLIP[j] is the point that lands where j was named.
KEYPOINT_FLIP: tuple[int, ...] = (
    *BODY_FLIP,
    21, 22, 23, 18, 19, 20,  # feet: left toes/heel <-> right
    *(24 + j for j in _FACE_FLIP),
    *range(113, 134),  # left hand <-> right hand
    *range(92, 113),
)  # fmt: skip

CONFIDENCE_THRESHOLD = 0.3
