"""Thresholds on the SecAgg+ graph, and the bound on how often dropouts stall a round."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prism_secure.protocols.secagg.graph import neighbours
from prism_secure.protocols.secagg.params import (
    stall_probability,
)


def test_full_graph_bound_is_the_exact_binomial_tail() -> None:
    """Full graph: the round stalls exactly when fewer than t of n survive; enumerate it."""
    n, t, q = 6, 4, 0.3
    exact = 0.0
    for alive in itertools.product([0, 1], repeat=n):
        if sum(alive) < t:
            exact += np.prod([1 - q if a else q for a in alive])
    assert stall_probability(n, n, t, q) == pytest.approx(exact, rel=1e-12)


def test_no_dropout_never_stalls_and_bad_rate_refused() -> None:
    assert stall_probability(500, 41, 20, 0.0) == 0.0
    with pytest.raises(ValueError, match="dropout"):
        stall_probability(10, 10, 5, 1.0)


@settings(max_examples=12, deadline=None)
@given(
    n=st.integers(20, 60),
    k_half=st.integers(2, 5),
    frac=st.floats(0.3, 0.8),
    q=st.floats(0.05, 0.5),
    seed=st.integers(0, 2**31),
)
def test_sparse_bound_covers_simulated_stalls(
    n: int, k_half: int, frac: float, q: float, seed: int
) -> None:
    """On the real SecAgg+ graph, a neighbourhood short of t happens no more often than bounded."""
    k = 2 * k_half
    t = max(2, int(np.ceil(frac * (k + 1))))
    graph = neighbours(list(range(n)), seed.to_bytes(32, "little"), k)
    rng = np.random.default_rng(seed)
    trials, stalls = 400, 0
    for _ in range(trials):
        alive = rng.random(n) >= q
        if any(sum(alive[j] for j in graph[c]) + 1 < t for c in range(n)):
            stalls += 1
    bound = stall_probability(n, k + 1, t, q)
    # were the bound the true rate, seeing this many stalls or more would be this unlikely:
    p_value = sum(
        math.comb(trials, j) * bound**j * (1 - bound) ** (trials - j)
        for j in range(stalls, trials + 1)
    )
    assert p_value > 1e-6, (stalls, trials, bound)
