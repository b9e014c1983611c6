import numpy as np
import pytest
import scipy.linalg

from animatex.evaluation.frechet import frechet_distance, frechet_distance_features, gaussian_statistics


def test_diagonal_gaussians_by_hand():
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    var1, var2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 1.0])
    # ||mu1 - mu2||^2 = 1 + 0 + 4; sum (sqrt(v1) - sqrt(v2))^2 = 1 + 1 + 4.
    assert frechet_distance(mu1, np.diag(var1), mu2, np.diag(var2)) == pytest.approx(11.0)


def test_full_covariances_match_scipy_sqrtm():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
    sigma1, sigma2 = a @ a.T + 0.1 * np.eye(6), b @ b.T + 0.1 * np.eye(6)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2).real
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(sigma1 + sigma2 - 2 * covmean)
    assert frechet_distance(mu1, sigma1, mu2, sigma2) == pytest.approx(expected, rel=1e-8)


def test_features_identical_and_shifted():
    features = np.random.default_rng(1).normal(size=(50, 4))
    assert frechet_distance_features(features, features) == pytest.approx(0.0, abs=1e-9)
    assert frechet_distance_features(features, features + 2.0) == pytest.approx(16.0, abs=1e-9)


def test_singular_covariances_stay_finite():
    rng = np.random.default_rng(2)
    distance = frechet_distance_features(rng.normal(size=(5, 64)), rng.normal(size=(5, 64)))  # N < D
    assert np.isfinite(distance) and distance > 0


def test_bad_shapes():
    with pytest.raises(ValueError, match="N >= 2"):
        gaussian_statistics(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="one D"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))


@pytest.mark.parametrize(("n1", "n2", "dim"), [(5, 7, 30), (40, 50, 6)])
def test_low_rank_path_matches_covariance_path(n1, n2, dim):
    rng = np.random.default_rng(3)
    x1, x2 = rng.normal(size=(n1, dim)), rng.normal(loc=0.5, size=(n2, dim)) * 1.5
    expected = frechet_distance(*gaussian_statistics(x1), *gaussian_statistics(x2))
    assert frechet_distance_features(x1, x2) == pytest.approx(expected, rel=1e-7)
