"""Generator-free control scores: if they separate members from non-members, the split is biased.

An audit is only meaningful when members and non-members (and inserted and left-out canaries)
are exchangeable. Scores that never look at the generator (ink, population density) must sit at
chance; when they do not, the records were not chosen at random, and any attack's "leak" may be a
property of the records rather than of the model.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from prism_secure.audits.attacks.density_ratio import log_density
from prism_secure.audits.attacks.registry import AttackInputs

Scores = NDArray[np.float64]


def control_scores(inputs: AttackInputs) -> dict[str, Scores]:
    """Scores of each candidate computed without any generated sample."""
    e, k = inputs.embedding, inputs.density_dim
    return {
        "control-ink": inputs.candidates.mean(axis=1).astype(np.float64),
        "control-population-density": log_density(
            e(inputs.population)[:, :k], e(inputs.candidates)[:, :k]
        ),
    }
