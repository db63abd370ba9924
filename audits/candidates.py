"""Which records an audit tests: members, as many non-members, and the attacker's population.

Non-members come from the run's train-split holdout (same distribution as the members) when it
is large enough, else from half of the test split; the population the attacker may use comes
from the rest of the test split. Canaries and a reference run's records are never candidates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from prism_secure.audits.rundir import RunDir
from prism_secure.audits.settings import AuditSettings
from prism_secure.errors import RunDirError

MIN_HOLDOUT = 100


@dataclass
class Candidates:
    """Indices chosen for the audit; non-members come from the holdout, else the test split."""

    members: NDArray[np.int64]
    nonmembers: NDArray[np.int64]
    nonmember_split: str
    population: NDArray[np.int64]
    """Indices into the test split, disjoint from any test-split non-members."""


def choose_candidates(
    rd: RunDir,
    test_size: int,
    settings: AuditSettings,
    exclude: set[int] | None = None,
    exclude_test: set[int] | None = None,
) -> Candidates:
    """Balanced member / non-member indices, avoiding canaries and a reference run's records:
    ``exclude`` in the train split, ``exclude_test`` in the test split."""
    rng = np.random.default_rng(settings.seed)
    m = rd.membership
    avoid = set(exclude or ()) | (set(m.canaries.candidates) if m.canaries else set())
    members = np.array(sorted(m.members - avoid), dtype=np.int64)
    holdout = np.array(sorted(set(m.holdout) - avoid), dtype=np.int64)
    test_perm = rng.permutation(test_size)
    if holdout.size >= MIN_HOLDOUT:
        nonmembers, split, population = holdout, "train-split holdout", test_perm
    else:
        half = test_size // 2
        pool = test_perm[:half]
        if exclude_test:
            pool = pool[~np.isin(pool, np.fromiter(exclude_test, dtype=np.int64))]
        nonmembers, split, population = pool, "test split", test_perm[half:]
    n = min(settings.n_candidates, members.size, nonmembers.size)
    if n < 10:
        raise RunDirError(
            f"{rd.path}: only {members.size} members and {nonmembers.size} non-members are "
            "usable; an audit needs at least 10 of each"
        )
    return Candidates(
        members=np.sort(rng.choice(members, n, replace=False)),
        nonmembers=np.sort(rng.choice(nonmembers, n, replace=False)),
        nonmember_split=split,
        population=np.sort(population[: settings.n_population]),
    )
