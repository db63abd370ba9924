"""Frechet distance between Gaussians fitted to two feature sets (FID when the features are
Inception pool3).

``d^2 = |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^{1/2})``. The trace of the matrix square root
comes from the eigenvalues of the symmetric ``S1^{1/2} S2 S1^{1/2}`` (same spectrum as ``S1 S2``);
unlike ``scipy.linalg.sqrtm`` this stays real and finite for singular (small-N) covariances.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from prism_secure.evaluation.errors import EvaluationError


@dataclass(frozen=True)
class GaussianStats:
    """Mean and covariance (unbiased, float64) of ``n`` feature vectors."""

    mu: np.ndarray
    sigma: np.ndarray
    n: int

    @classmethod
    def from_features(cls, features: np.ndarray | torch.Tensor) -> GaussianStats:
        acc = FeatureMoments()
        acc.update(features)
        return acc.compute()


class FeatureMoments:
    """Accumulates first and second moments batch by batch (torchmetrics' update/compute shape)."""

    def __init__(self) -> None:
        self.n = 0
        self._sum: np.ndarray | None = None
        self._outer: np.ndarray | None = None

    def update(self, features: np.ndarray | torch.Tensor) -> None:
        f = features.detach().cpu().numpy() if isinstance(features, torch.Tensor) else features
        f = np.asarray(f, dtype=np.float64)
        if f.ndim != 2:
            raise EvaluationError(f"features: expected shape (N, D), got {f.shape}")
        if self._sum is None:
            self._sum = np.zeros(f.shape[1])
            self._outer = np.zeros((f.shape[1], f.shape[1]))
        elif f.shape[1] != self._sum.shape[0]:
            raise EvaluationError(f"features: dimension {f.shape[1]} != {self._sum.shape[0]}")
        self.n += f.shape[0]
        self._sum += f.sum(axis=0)
        self._outer += f.T @ f

    def compute(self) -> GaussianStats:
        if self._sum is None or self.n < 2:
            raise EvaluationError(f"need at least 2 feature vectors for a covariance, got {self.n}")
        mu = self._sum / self.n
        sigma = (self._outer - self.n * np.outer(mu, mu)) / (self.n - 1)
        return GaussianStats(mu=mu, sigma=(sigma + sigma.T) / 2, n=self.n)


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh(matrix)
    return (vecs * np.sqrt(np.clip(vals, 0.0, None))) @ vecs.T


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """``tr((S1 S2)^{1/2})`` for symmetric PSD ``S1``, ``S2``."""
    root1 = _psd_sqrt(sigma1)
    middle = root1 @ sigma2 @ root1
    vals = np.linalg.eigvalsh((middle + middle.T) / 2)
    return float(np.sqrt(np.clip(vals, 0.0, None)).sum())


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray
) -> float:
    """Squared Frechet distance between N(mu1, sigma1) and N(mu2, sigma2) (the FID value)."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.size, mu1.size):
        raise EvaluationError(
            f"shape mismatch: mu {mu1.shape} vs {mu2.shape}, sigma {s1.shape} vs {s2.shape}"
        )
    diff = mu1 - mu2
    value = diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * trace_sqrt_product(s1, s2)
    return float(max(value, 0.0))


def fid_from_stats(a: GaussianStats, b: GaussianStats) -> float:
    return frechet_distance(a.mu, a.sigma, b.mu, b.sigma)


def _centred(x: np.ndarray | torch.Tensor) -> np.ndarray:
    x = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise EvaluationError(f"features: expected shape (N>=2, D), got {x.shape}")
    return x - x.mean(axis=0)


def fid_from_features(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor) -> float:
    """FID of two feature sets; with fewer samples than dimensions it works in sample space.

    With centred ``A`` (n1 x d) and ``B`` (n2 x d), ``S1 S2`` has the nonzero spectrum of
    ``(A B^T)(A B^T)^T / ((n1-1)(n2-1))``, so ``tr (S1 S2)^{1/2}`` is the sum of singular values of
    the n1 x n2 matrix ``A B^T``: exact, and far cheaper than d x d eigendecompositions at small n.
    """
    ca, cb = _centred(a), _centred(b)
    if ca.shape[1] != cb.shape[1]:
        raise EvaluationError(f"feature dimensions differ: {ca.shape[1]} vs {cb.shape[1]}")
    n1, n2, d = ca.shape[0], cb.shape[0], ca.shape[1]
    if min(n1, n2) >= d:
        return fid_from_stats(GaussianStats.from_features(a), GaussianStats.from_features(b))
    mu_a = np.asarray(a, dtype=np.float64).mean(axis=0)
    mu_b = np.asarray(b, dtype=np.float64).mean(axis=0)
    diff = mu_a - mu_b
    tr1 = (ca * ca).sum() / (n1 - 1)
    tr2 = (cb * cb).sum() / (n2 - 1)
    cross = np.linalg.svd(ca @ cb.T, compute_uv=False).sum() / np.sqrt((n1 - 1) * (n2 - 1))
    return float(max(diff @ diff + tr1 + tr2 - 2.0 * cross, 0.0))
