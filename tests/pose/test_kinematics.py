import numpy as np

from animatex.pose.kinematics import bone_angles, bone_lengths, forward_kinematics


def test_forward_kinematics_inverts_bone_decomposition():
    body = np.random.default_rng(0).uniform(0, 100, (4, 18, 2))
    rebuilt = forward_kinematics(body[:, 1], bone_angles(body), bone_lengths(body))
    np.testing.assert_allclose(rebuilt, body, atol=1e-9)


def test_new_lengths_keep_angles():
    body = np.random.default_rng(1).uniform(0, 100, (18, 2))
    lengths = bone_lengths(body) * np.linspace(0.5, 2.0, 17)
    moved = forward_kinematics(body[1], bone_angles(body), lengths)
    np.testing.assert_allclose(bone_lengths(moved), lengths, atol=1e-9)
    np.testing.assert_allclose(np.cos(bone_angles(moved) - bone_angles(body)), 1.0, atol=1e-9)
