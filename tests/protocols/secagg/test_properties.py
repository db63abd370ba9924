"""End-to-end properties: exact sums over survivors, or an abort below the threshold."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prism_secure.protocols.errors import AbortedError
from prism_secure.protocols.secagg.driver import phase_names, run_secure_sum

PHASES = phase_names()
DIGEST = os.urandom(32)


def remaining_counts(n: int, dropouts: dict[int, str]) -> list[int]:
    """How many clients are left after each phase, given where each one vanishes."""
    counts, left = [], set(range(n))
    for phase in PHASES:
        left -= {c for c, p in dropouts.items() if p == phase}
        counts.append(len(left))
    return counts


def survivors_of(n: int, dropouts: dict[int, str]) -> list[int]:
    """Clients whose masked input reaches the server: they did not drop before 'consistency'."""
    early = set(PHASES[: PHASES.index("consistency")])
    return [c for c in range(n) if dropouts.get(c) not in early]


@st.composite
def rounds(draw: st.DrawFn, sparse: bool = False) -> tuple:
    n = draw(st.integers(5, 10) if sparse else st.integers(2, 7))
    k = draw(st.sampled_from([2, 4])) if sparse else None
    # the smallest t the split-view rule allows: 2t > k on the sparse graph, 2t > n on the full one
    t = draw(st.integers(k // 2 + 1, min(n, k + 1)) if k else st.integers(max(2, n // 2 + 1), n))
    d = draw(st.integers(1, 40))
    binary = draw(st.booleans())
    bits = None if binary else draw(st.integers(1, 20))
    hi = 2 if binary else 1 << bits  # type: ignore[operator]
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)  # test data only, not protocol randomness
    inputs = {c: rng.integers(0, hi, d).astype(np.uint32) for c in range(n)}
    drops = draw(st.dictionaries(st.integers(0, n - 1), st.sampled_from(PHASES), max_size=n))
    return n, t, bits, inputs, drops, k


def check(
    n: int, t: int, bits: int | None, inputs: dict, drops: dict, k: int | None, graph: str
) -> None:
    counts = remaining_counts(n, drops)
    try:
        res = run_secure_sum(
            inputs,
            bits=bits,
            threshold=t,
            graph=graph,
            neighbours=k,  # type: ignore[arg-type]
            round_index=5,
            model_digest=DIGEST,
            dropouts=drops,
        )
    except AbortedError:
        if graph == "full":
            assert min(counts) < t, f"aborted with counts {counts} >= t={t}"
        else:  # SecAgg+: a neighbourhood can fall below t even if the whole cohort does not
            assert min(counts) < t or drops
        return
    assert min(counts) >= t, f"succeeded with counts {counts} < t={t}"
    surv = survivors_of(n, drops)
    assert res.survivors == surv
    assert res.secagg is not None
    b = res.secagg.bits
    expected = sum(inputs[c].astype(np.int64) for c in surv) % (1 << b)
    np.testing.assert_array_equal(res.total, expected)
    assert res.total.dtype == np.int64


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rounds())
def test_full_graph_sum_or_abort(case: tuple) -> None:
    check(*case, graph="full")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rounds(sparse=True))
def test_sparse_graph_sum_or_abort(case: tuple) -> None:
    check(*case, graph="sparse")


@pytest.mark.parametrize("phase", PHASES)
def test_exactly_t_succeed_and_t_minus_one_abort(phase: str) -> None:
    n, t, d = 6, 4, 64
    rng = np.random.default_rng(1)
    inputs = {c: rng.integers(0, 2, d, dtype=np.uint8) for c in range(n)}
    ok = run_secure_sum(
        inputs, threshold=t, round_index=1, model_digest=DIGEST, dropouts={4: phase, 5: phase}
    )
    surv = survivors_of(n, {4: phase, 5: phase})
    np.testing.assert_array_equal(ok.total, sum(inputs[c].astype(np.int64) for c in surv))
    with pytest.raises(AbortedError):
        run_secure_sum(
            inputs,
            threshold=t,
            round_index=1,
            model_digest=DIGEST,
            dropouts={3: phase, 4: phase, 5: phase},
        )


def test_binary_inputs_use_the_least_bits_and_exact_counts() -> None:
    n, d = 15, 500
    inputs = {c: np.ones(d, dtype=np.uint8) for c in range(n)}  # the count n itself must fit
    res = run_secure_sum(inputs, threshold=8, round_index=0, model_digest=DIGEST)
    assert res.secagg is not None and res.secagg.bits == 4
    assert (res.total == 15).all()


def test_prg_and_aead_alternatives() -> None:
    rng = np.random.default_rng(2)
    inputs = {c: rng.integers(0, 2, 100, dtype=np.uint8) for c in range(4)}
    res = run_secure_sum(
        inputs,
        threshold=3,
        round_index=0,
        model_digest=DIGEST,
        prg="chacha20",
        aead="chacha20-poly1305",
        dropouts={1: "masked"},
    )
    np.testing.assert_array_equal(res.total, inputs[0] + inputs[2].astype(np.int64) + inputs[3])


def test_sparse_graph_without_dropouts_always_succeeds() -> None:
    rng = np.random.default_rng(3)
    inputs = {c: rng.integers(0, 2, 50, dtype=np.uint8) for c in range(30)}
    res = run_secure_sum(
        inputs, threshold=3, graph="sparse", neighbours=4, round_index=2, model_digest=DIGEST
    )
    np.testing.assert_array_equal(res.total, sum(v.astype(np.int64) for v in inputs.values()))
    # each client talks to 4 neighbours, not 29: its traffic is far below the full graph's
    full = run_secure_sum(inputs, threshold=16, round_index=2, model_digest=DIGEST)
    assert max(res.bytes_down_per_client.values()) < max(full.bytes_down_per_client.values())
