"""The OpenPose-18 body skeleton and the DWPose whole-body layout (reference.md section 7).

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

CONFIDENCE_THRESHOLD = 0.3
