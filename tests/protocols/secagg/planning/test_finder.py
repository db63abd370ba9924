"""The parameter finder, and how training uses it: secure always, rarely stalling, or refused."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st


def holders(graph: str, n: int, k: int | None) -> int:
    return n - 1 if graph == "full" else min(k, n - 1)  # type: ignore[type-var]


@settings(max_examples=150)
@given(
    n=st.integers(2, 3000),
    dropout=st.floats(0, 0.45),
    corrupt=st.sampled_from([0.0, 0.01, 0.05, 0.1]),
    target=st.sampled_from([1e-9, 1e-6, 1e-3, 0.1]),
    graph=st.sampled_from([None, "full", "sparse"]),
)
def test_finder_result_is_always_secure_and_meets_its_stall_bound(
    n: int, dropout: float, corrupt: float, target: float, graph: str | None
) -> None:
    from prism_secure.protocols.errors import ParameterError
    from prism_secure.protocols.secagg.params import (
        SessionParams,
        candidates,
        choose,
        split_probability,
        stall_probability,
    )

    try:
        c = choose(n, dropout, stall_target=target, corrupt=corrupt, graph=graph)  # type: ignore[arg-type]
    except ParameterError as exc:
        assert "no secure parameters" in str(exc)
        others = candidates(n, dropout, corrupt=corrupt, graph=graph)  # type: ignore[arg-type]
        assert all(o.stall > target or o.split > 2**-40 for o in others)
        return
    o = holders(c.graph, n, c.neighbours)
    # the split-view rule with the colluders one neighbourhood may hold: 2t > o + 1 + c
    assert 2 * c.threshold > o + 1 + c.corrupt_neighbours
    assert c.corrupt_neighbours >= (int(corrupt * n) if c.graph == "full" else 0)
    assert c.threshold <= o + 1
    assert c.stall == stall_probability(n, o + 1, c.threshold, dropout) <= target
    if c.graph == "sparse":
        assert c.neighbours % 2 == 0 and split_probability(n, c.neighbours, dropout) <= 2**-40
    SessionParams(  # both sides accept it
        threshold=c.threshold,
        bits=8,
        length=4,
        clients=n,
        graph=c.graph,
        neighbours=c.neighbours,
    )


def test_finder_picks_the_cheapest_graph_and_refuses_the_impossible() -> None:
    from prism_secure.protocols.errors import ParameterError
    from prism_secure.protocols.secagg.params import choose

    big = choose(1000, 0.1)
    assert big.graph == "sparse" and big.neighbours < 100 and 2 * big.threshold > big.neighbours
    small = choose(10, 0.0, graph="full")
    assert (small.graph, small.neighbours, small.threshold) == ("full", None, 6)
    with pytest.raises(ParameterError, match="best possible"):
        choose(10, 0.3, stall_target=1e-6)  # 10 clients at 30% dropout: t = 6 stalls ~15%
    assert choose(1000, 0.05, corrupt=0.05).threshold > choose(1000, 0.05).threshold
