"""Per-record clipping and the sums the moment-matching loss needs.

Each record's feature vector is scaled to L2 norm at most C; the sums of the clipped vectors and of
their element-wise squares are then all the real data the rest of training ever sees. Sums
accumulate in float64 over row chunks, so a large client neither loses precision nor doubles its
memory.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch

#: Elements per float64 working chunk (32 MiB).
_CHUNK_ELEMENTS = 1 << 22


@dataclass(frozen=True)
class ClippedSums:
    """Sums over one client's records of clipped features and of their squares (float64, CPU)."""

    feature_sum: torch.Tensor
    square_sum: torch.Tensor
    count: int
    clip_norm: float | None
    num_clipped: int
    num_nonfinite: int


def clip_rows(features: torch.Tensor, clip_norm: float) -> torch.Tensor:
    """Scale each row to L2 norm <= ``clip_norm``; rows already inside are left as they are.

    A row with a non-finite entry becomes zero: a per-record map with norm <= C, so the
    sensitivity argument still holds and one corrupt record cannot poison the whole release.
    """
    x = features.to(torch.float64)
    finite = torch.isfinite(x).all(dim=1)
    x = torch.where(finite[:, None], x, torch.zeros((), dtype=x.dtype, device=x.device))
    norms = torch.linalg.vector_norm(x, dim=1)
    scale = torch.clamp(clip_norm / norms, max=1.0)  # C / 0 = inf -> 1
    return x * scale[:, None]


def moment_sums(features: torch.Tensor, clip_norm: float | None) -> ClippedSums:
    """Sums of (clipped) features and squared features; ``clip_norm=None`` means no clipping."""
    if features.ndim != 2:
        raise ValueError(f"features must be (n, D), got shape {tuple(features.shape)}")
    if not (features.is_floating_point()):
        raise TypeError(f"features must be floating point, got {features.dtype}")
    n, dim = features.shape
    rows = max(1, _CHUNK_ELEMENTS // max(dim, 1))
    s1 = torch.zeros(dim, dtype=torch.float64, device=features.device)
    s2 = torch.zeros(dim, dtype=torch.float64, device=features.device)
    clipped = nonfinite = 0
    for start in range(0, n, rows):
        chunk = features[start : start + rows].to(torch.float64)
        bad = int((~torch.isfinite(chunk).all(dim=1)).sum())
        nonfinite += bad
        if clip_norm is not None:
            clipped += int((torch.linalg.vector_norm(chunk, dim=1) > clip_norm).sum())
            chunk = clip_rows(chunk, clip_norm)
        s1 += chunk.sum(dim=0)
        s2 += chunk.square().sum(dim=0)
    if nonfinite:
        warnings.warn(
            f"{nonfinite} of {n} feature rows were not finite"
            + ("; they were zeroed before release" if clip_norm is not None else ""),
            RuntimeWarning,
            stacklevel=2,
        )
    return ClippedSums(
        feature_sum=s1.cpu(),
        square_sum=s2.cpu(),
        count=n,
        clip_norm=clip_norm,
        num_clipped=clipped,
        num_nonfinite=nonfinite,
    )
