"""DOMIAS-style density ratio (van Breugel et al. 2023): log p_generator(x) - log p_reference(x).

A generator that memorised a record puts more mass near it than the population does; dividing by
the population density stops the attack from merely flagging typical records. Both densities are
Gaussian kernel estimates in a low-dimensional embedding.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.stats import gaussian_kde

from prism_secure.audits.attacks.distances import Array, as_rows
from prism_secure.audits.errors import AuditInputError


def log_density(
    points: Array, queries: Array, bandwidth: float | str = "scott"
) -> NDArray[np.float64]:
    """Log of a Gaussian KDE fitted on ``points``, evaluated at ``queries`` (rows are records)."""
    p = as_rows(points, "density points").astype(np.float64)
    q = as_rows(queries, "queries").astype(np.float64)
    if p.shape[0] <= p.shape[1]:
        raise AuditInputError(
            f"a {p.shape[1]}-dimensional density needs more than {p.shape[1]} points, "
            f"got {p.shape[0]}"
        )
    kde = gaussian_kde(p.T, bw_method=bandwidth)
    return kde.logpdf(q.T)


def density_ratio_scores(
    candidates_embedded: Array,
    generated_embedded: Array,
    reference_embedded: Array,
    bandwidth: float | str = "scott",
) -> NDArray[np.float64]:
    """Score = log p_G(x) - log p_ref(x), inputs already in the embedding space."""
    c = as_rows(candidates_embedded, "candidates")
    return log_density(generated_embedded, c, bandwidth) - log_density(
        reference_embedded, c, bandwidth
    )
