"""Precision, recall, density and coverage (Naeem et al. 2020) with k-nearest-neighbour balls.

With ``r_k(x)`` the distance from ``x`` to its k-th nearest neighbour in its own set (itself
excluded), real set R (size N) and fake set F (size M):

- precision = share of fakes inside at least one real ball ``B(r, r_k(r))``
- recall    = share of reals inside at least one fake ball ``B(f, r_k(f))``
- density   = ``1/(k M) * sum_f #{r : f in B(r, r_k(r))}`` (not bounded by 1; about 1 when F ~ R)
- coverage  = share of reals whose ball holds at least one fake

Membership is strict (``d < r``), as in the reference ``prdc`` package. Distances are computed in
row blocks so 10k x 10k sets never need a full distance matrix in memory.
"""

from __future__ import annotations

import numpy as np
import torch
from pydantic import BaseModel

from prism_secure.evaluation.errors import EvaluationError

_BLOCK = 1024


class PRDC(BaseModel):
    precision: float
    recall: float
    density: float
    coverage: float
    k: int


def _as_tensor(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    t = torch.as_tensor(x).detach().cpu().to(torch.float64)
    if t.ndim != 2:
        raise EvaluationError(f"features: expected shape (N, D), got {tuple(t.shape)}")
    return t


def _distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.cdist(a, b, compute_mode="use_mm_for_euclid_dist_if_necessary")


def knn_radii(features: torch.Tensor, k: int) -> torch.Tensor:
    """Distance from each row to its k-th nearest other row (self, at distance 0, excluded)."""
    n = features.shape[0]
    if n <= k:
        raise EvaluationError(f"PRDC with k={k} needs more than {k} samples per set, got {n}")
    radii = torch.empty(n, dtype=features.dtype)
    for lo in range(0, n, _BLOCK):
        block = _distances(features[lo : lo + _BLOCK], features)
        rows = torch.arange(block.shape[0])
        block[rows, rows + lo] = 0.0  # exact zero for self, whatever the rounding of cdist
        radii[lo : lo + block.shape[0]] = block.kthvalue(k + 1, dim=1).values
    return radii


def compute_prdc(
    real_features: np.ndarray | torch.Tensor, fake_features: np.ndarray | torch.Tensor, k: int = 5
) -> PRDC:
    """PRDC of ``fake_features`` against ``real_features`` (rows are samples)."""
    real, fake = _as_tensor(real_features), _as_tensor(fake_features)
    if real.shape[1] != fake.shape[1]:
        raise EvaluationError(f"feature dimensions differ: {real.shape[1]} vs {fake.shape[1]}")
    real_r, fake_r = knn_radii(real, k), knn_radii(fake, k)
    fake_in_some_real = torch.zeros(fake.shape[0], dtype=torch.bool)
    fake_ball_counts = torch.zeros(fake.shape[0], dtype=torch.float64)
    real_in_some_fake = torch.zeros(real.shape[0], dtype=torch.bool)
    real_covered = torch.zeros(real.shape[0], dtype=torch.bool)
    for lo in range(0, real.shape[0], _BLOCK):
        d = _distances(real[lo : lo + _BLOCK], fake)  # (block of reals, M)
        inside_real_ball = d < real_r[lo : lo + d.shape[0], None]
        fake_in_some_real |= inside_real_ball.any(dim=0)
        fake_ball_counts += inside_real_ball.sum(dim=0)
        real_in_some_fake[lo : lo + d.shape[0]] = (d < fake_r[None, :]).any(dim=1)
        real_covered[lo : lo + d.shape[0]] = d.min(dim=1).values < real_r[lo : lo + d.shape[0]]
    return PRDC(
        precision=float(fake_in_some_real.double().mean()),
        recall=float(real_in_some_fake.double().mean()),
        density=float(fake_ball_counts.mean() / k),
        coverage=float(real_covered.double().mean()),
        k=k,
    )
