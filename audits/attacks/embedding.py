"""A feature space for the attacks, fitted on population data only (never on candidates).

PCA keeps the directions along which real images vary, drops pixel noise, and makes density
estimates feasible (DOMIAS needs a low-dimensional space).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from prism_secure.audits.attacks.distances import Array, as_rows
from prism_secure.audits.errors import AuditInputError


class PcaEmbedding:
    """Centre on the population mean and project on its top principal directions."""

    def __init__(self, mean: Array, components: Array) -> None:
        self.mean = mean
        self.components = components

    @classmethod
    def fit(cls, population: Array, dim: int) -> PcaEmbedding:
        x = as_rows(population, "population").astype(np.float64)
        if not 1 <= dim <= min(x.shape):
            raise AuditInputError(f"dim must lie in [1, {min(x.shape)}], got {dim}")
        mean = x.mean(axis=0)
        _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
        return cls(mean.astype(np.float32), vt[:dim].astype(np.float32))

    @property
    def dim(self) -> int:
        return int(self.components.shape[0])

    def __call__(self, x: Array) -> NDArray[np.float32]:
        rows = as_rows(x, "records")
        if rows.shape[1] != self.mean.shape[0]:
            raise AuditInputError(
                f"records have {rows.shape[1]} features, PCA expects {self.mean.shape[0]}"
            )
        return (rows - self.mean) @ self.components.T
