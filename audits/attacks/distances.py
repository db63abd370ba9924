"""Chunked Euclidean distances between candidate records and generated samples.

The full matrix (thousands of records by tens of thousands of samples) would not fit in memory
on a small machine, so every attack reduces it chunk by chunk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch
from numpy.typing import NDArray

from prism_secure.audits.errors import AuditInputError

Array = NDArray[np.float32]


def as_rows(x: NDArray[np.floating] | torch.Tensor, name: str) -> Array:
    """Flatten every record to one row of float32 (images (N,C,H,W) become (N, C*H*W))."""
    arr = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if arr.ndim < 2 or arr.shape[0] == 0:
        raise AuditInputError(f"{name} must hold at least one record, got shape {arr.shape}")
    rows = arr.reshape(arr.shape[0], -1).astype(np.float32, copy=False)
    if not np.all(np.isfinite(rows)):
        raise AuditInputError(f"{name} contains NaN or infinite values")
    return rows


def _distance_chunks(
    queries: Array, samples: Array, chunk: int
) -> Iterator[tuple[slice, torch.Tensor]]:
    if queries.shape[1] != samples.shape[1]:
        raise AuditInputError(
            f"records have {queries.shape[1]} features but samples have {samples.shape[1]}"
        )
    s = torch.from_numpy(np.ascontiguousarray(samples))
    for start in range(0, queries.shape[0], chunk):
        q = torch.from_numpy(np.ascontiguousarray(queries[start : start + chunk]))
        # Exact differences, not the matmul expansion: near-copies must read as distance ~0.
        yield (
            slice(start, start + q.shape[0]),
            torch.cdist(q, s, compute_mode="donot_use_mm_for_euclid_dist"),
        )


def reduce_distances(
    queries: Array,
    samples: Array,
    reduce: Callable[[torch.Tensor], torch.Tensor],
    chunk: int = 256,
) -> NDArray[np.float64]:
    """Apply ``reduce`` (rows of distances -> one value per row) to each chunk of the matrix."""
    out = np.empty(queries.shape[0], dtype=np.float64)
    with torch.no_grad():
        for rows, dist in _distance_chunks(queries, samples, chunk):
            out[rows] = reduce(dist).double().numpy()
    return out


def nearest_distances(queries: Array, samples: Array, k: int = 1) -> NDArray[np.float64]:
    """Distance from each query to its k-th nearest sample.

    The neighbour is found with fast matmul distances, then its distance is recomputed from the
    difference itself, so that an exact copy reads as exactly 0 (float cancellation would not).
    """
    if not 1 <= k <= samples.shape[0]:
        raise AuditInputError(f"k must lie in [1, {samples.shape[0]}], got {k}")
    picks = reduce_distances(queries, samples, lambda d: d.kthvalue(k, dim=1).indices)
    diff = queries.astype(np.float64) - samples[picks.astype(np.int64)].astype(np.float64)
    return np.sqrt((diff**2).sum(axis=1))
