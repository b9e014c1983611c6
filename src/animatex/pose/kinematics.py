"""Forward kinematics on the OpenPose-18 body tree: bones as (length, absolute angle) per limb.

A body pose is (..., 18, 2) pixel positions. Each of the 17 `BODY_LIMBS` (parent, child) is a bone;
its angle is the absolute direction atan2(dy, dx) of child - parent in image coordinates. Keeping the
angles and swapping the lengths retargets a motion onto another body shape (Animate-X, arXiv 2410.10306).
"""

from __future__ import annotations

import numpy as np

from animatex.pose.skeleton import BODY_LIMBS, NUM_BODY

_PARENTS = np.array([p for p, _ in BODY_LIMBS])
_CHILDREN = np.array([c for _, c in BODY_LIMBS])
ROOT = 1  # the neck


def bone_vectors(body: np.ndarray) -> np.ndarray:
    """(..., 17, 2): child - parent for every limb."""
    body = np.asarray(body, dtype=np.float64)
    return body[..., _CHILDREN, :] - body[..., _PARENTS, :]


def bone_lengths(body: np.ndarray) -> np.ndarray:
    """(..., 17) limb lengths in pixels."""
    return np.linalg.norm(bone_vectors(body), axis=-1)


def bone_angles(body: np.ndarray) -> np.ndarray:
    """(..., 17) absolute limb directions in radians."""
    v = bone_vectors(body)
    return np.arctan2(v[..., 1], v[..., 0])


def forward_kinematics(root: np.ndarray, angles: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Body positions (..., 18, 2) from the neck position (..., 2), limb angles and lengths (..., 17).

    `BODY_LIMBS` lists every parent before its children, so one pass in list order places all joints.
    """
    root = np.asarray(root, dtype=np.float64)
    angles = np.asarray(angles, dtype=np.float64)
    lengths = np.broadcast_to(np.asarray(lengths, dtype=np.float64), angles.shape)
    body = np.zeros((*angles.shape[:-1], NUM_BODY, 2))
    body[..., ROOT, :] = root
    offsets = np.stack([np.cos(angles), np.sin(angles)], axis=-1) * lengths[..., None]
    for limb, (parent, child) in enumerate(BODY_LIMBS):
        body[..., child, :] = body[..., parent, :] + offsets[..., limb, :]
    return body
