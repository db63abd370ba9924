"""Input checks shared by the metrics, so every metric rejects bad scores the same way."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from prism_secure.audits.errors import AuditInputError


def scores_and_labels(
    scores: ArrayLike, labels: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Return 1-D float scores and boolean member labels, with both classes present."""
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    y_raw = np.asarray(labels).reshape(-1)
    if s.shape != y_raw.shape:
        raise AuditInputError(f"scores has {s.size} entries but labels has {y_raw.size}")
    if not np.all(np.isfinite(s)):
        raise AuditInputError("scores contain NaN or infinite values")
    if not np.all((y_raw == 0) | (y_raw == 1)):
        raise AuditInputError("labels must be 0 (non-member) or 1 (member)")
    y = y_raw.astype(bool)
    if y.all() or not y.any():
        raise AuditInputError("labels need at least one member and one non-member")
    return s, y
