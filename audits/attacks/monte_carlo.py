"""Monte-Carlo epsilon-ball attack (Hilprecht et al. 2019): count generated samples near a record.

The radius is chosen from the candidates alone (a quantile of their nearest-sample distances),
never from the labels, so the attack stays honest.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from prism_secure.audits.attacks.distances import (
    Array,
    as_rows,
    nearest_distances,
    reduce_distances,
)
from prism_secure.audits.errors import AuditInputError


def ball_radius(candidates: Array, generated: Array, quantile: float = 0.5) -> float:
    """Radius at which a ``quantile`` fraction of the candidates has a generated sample inside."""
    if not 0 < quantile <= 1:
        raise AuditInputError(f"quantile must lie in (0, 1], got {quantile}")
    return float(np.quantile(nearest_distances(candidates, generated), quantile))


def monte_carlo_scores(
    candidates: Array,
    generated: Array,
    radius: float | None = None,
    quantile: float = 0.5,
) -> NDArray[np.float64]:
    """Fraction of generated samples within ``radius`` of each candidate."""
    c, g = as_rows(candidates, "candidates"), as_rows(generated, "generated")
    eps = ball_radius(c, g, quantile) if radius is None else radius
    if eps < 0:
        raise AuditInputError(f"radius must be non-negative, got {eps}")
    counts = reduce_distances(c, g, lambda d: (d <= eps).sum(dim=1))
    return counts / g.shape[0]
