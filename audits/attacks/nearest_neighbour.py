"""GAN-Leaks full black-box (Chen et al. 2020): members sit closer to their nearest sample.

The calibrated score subtracts the same distance under a reference generator that never saw the
record, which removes how "typical" a record is and leaves what this generator memorised.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from prism_secure.audits.attacks.distances import Array, as_rows, nearest_distances


def nearest_neighbour_scores(candidates: Array, generated: Array) -> NDArray[np.float64]:
    """Score = minus the distance to the nearest generated sample (higher: more likely member)."""
    c, g = as_rows(candidates, "candidates"), as_rows(generated, "generated")
    return -nearest_distances(c, g)


def calibrated_nearest_neighbour_scores(
    candidates: Array, generated: Array, reference_generated: Array
) -> NDArray[np.float64]:
    """Score = distance under the reference generator minus distance under the target one."""
    c = as_rows(candidates, "candidates")
    target = nearest_distances(c, as_rows(generated, "generated"))
    reference = nearest_distances(c, as_rows(reference_generated, "reference_generated"))
    return reference - target
