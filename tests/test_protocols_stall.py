"""Thresholds on the SecAgg+ graph, and the bound on how often dropouts stall a round."""

from __future__ import annotations

import itertools
import math
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prism_secure.config import RunConfig, SecureAggConfig
from prism_secure.federation.summers.factory import build_summer
from prism_secure.federation.summers.policy import release_threshold, stall_risk
from prism_secure.protocols.graph import neighbours
from prism_secure.protocols.params import (
    default_neighbours,
    neighbourhood_size,
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


def test_sparse_threshold_counts_per_neighbourhood() -> None:
    cfg = SecureAggConfig(graph="sparse", threshold=0.5)
    k = default_neighbours(100)
    assert neighbourhood_size(100, "sparse", None) == k + 1
    assert release_threshold(cfg, 100) == int(np.ceil(0.5 * (k + 1)))
    # full graph: of all n (0.5 of 99 is secure, 2t > n; 0.5 of 100 would not be)
    assert release_threshold(SecureAggConfig(threshold=0.5), 99) == 50
    # a neighbourhood as large as the cohort is the full graph
    assert neighbourhood_size(10, "sparse", 40) == 10


def test_training_sum_on_the_sparse_graph_is_exact_beyond_one_neighbourhood() -> None:
    """100 clients, k = 14: t counts within a neighbourhood, so the round succeeds."""
    rng = np.random.default_rng(3)
    inputs = {c: rng.integers(0, 2, 300, dtype=np.uint8) for c in range(100)}
    summer = build_summer(RunConfig(secure_agg=SecureAggConfig(graph="sparse")))
    out = summer.sum(
        inputs, round_index=1, model_digest=os.urandom(32), dropouts={7: "masked", 40: "share"}
    )
    expected = sum(inputs[c].astype(np.int64) for c in out.survivors)
    assert 7 not in out.survivors and 40 not in out.survivors
    np.testing.assert_array_equal(out.counts, expected)


def test_stall_risk_flags_thin_neighbourhoods() -> None:
    sparse = SecureAggConfig(graph="sparse", neighbours=6, threshold=0.8)
    assert stall_risk(sparse, 200, 0.0) == 0.0
    assert stall_risk(sparse, 200, 0.3) > 0.5
    assert stall_risk(SecureAggConfig(mode="none"), 200, 0.3) == 0.0
    assert stall_risk(SecureAggConfig(), 10, 0.05) < 1e-3
