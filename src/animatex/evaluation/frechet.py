"""The Fréchet distance between Gaussians fitted to two feature sets (FID, FID-VID and FVD all use it)."""

from __future__ import annotations

import numpy as np


def gaussian_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and unbiased covariance (D, D) of (N, D) features, N >= 2, in float64."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(f"features must have shape (N >= 2, D), got {features.shape}")
    return features.mean(axis=0), np.cov(features, rowvar=False).reshape(features.shape[1], features.shape[1])


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)).

    Tr((S1 S2)^(1/2)) is computed as the sum of the square roots of the eigenvalues of the symmetric
    PSD matrix S1^(1/2) S2 S1^(1/2) (similar to S1 S2): no complex parts, no failing sqrtm on the
    singular covariances that few samples in many dimensions give.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = (
        np.atleast_2d(np.asarray(sigma1, np.float64)),
        np.atleast_2d(np.asarray(sigma2, np.float64)),
    )
    dim = mu1.shape[0]
    if mu1.shape != (dim,) or mu2.shape != (dim,) or sigma1.shape != (dim, dim) or sigma2.shape != (dim, dim):
        raise ValueError(
            f"Fréchet distance needs means (D,) and covariances (D, D) of one D, got {mu1.shape}, "
            f"{sigma1.shape}, {mu2.shape}, {sigma2.shape}"
        )
    root1 = _psd_sqrt(sigma1)
    middle = root1 @ sigma2 @ root1
    trace_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0.0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt)


def frechet_distance_features(features1: np.ndarray, features2: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted (unbiased covariance) to two (N, D) feature sets.

    With fewer samples than dimensions (a few videos, 2048-d features) no D x D matrix is formed: for
    centred features X1, X2, the nonzero eigenvalues of S1 S2 are the squared singular values of
    X1 X2^T / sqrt((n1 - 1)(n2 - 1)), an n1 x n2 matrix. Same value, milliseconds instead of seconds.
    """
    x1, x2 = np.asarray(features1, np.float64), np.asarray(features2, np.float64)
    for x in (x1, x2):
        if x.ndim != 2 or x.shape[0] < 2:
            raise ValueError(f"features must have shape (N >= 2, D), got {x.shape}")
    if x1.shape[1] != x2.shape[1]:
        raise ValueError(f"feature sets differ in dimension: {x1.shape[1]} vs {x2.shape[1]}")
    if min(len(x1), len(x2)) >= x1.shape[1]:
        return frechet_distance(*gaussian_statistics(x1), *gaussian_statistics(x2))
    mu1, mu2 = x1.mean(axis=0), x2.mean(axis=0)
    c1, c2 = x1 - mu1, x2 - mu2
    n1, n2 = len(x1) - 1, len(x2) - 1
    trace_sqrt = np.linalg.svd(c1 @ c2.T, compute_uv=False).sum() / np.sqrt(n1 * n2)
    diff = mu1 - mu2
    return float(diff @ diff + (c1**2).sum() / n1 + (c2**2).sum() / n2 - 2.0 * trace_sqrt)
