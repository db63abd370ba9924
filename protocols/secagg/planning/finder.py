"""The parameter finder: graph, k and t from the cohort, the dropout rate and the adversary.

In the spirit of Bell et al.'s finder for SecAgg+, :func:`choose` returns the cheapest
parameters that are secure and rarely stall:

- secure: t meets the split-view rule of :mod:`prism_secure.protocols.secagg.planning.security`
  for the number of colluding clients one neighbourhood may hold (``corrupt`` is the fraction of
  clients the adversary controls; on the sparse graph the per-neighbourhood count is the binomial
  tail bound that holds for every client except with probability ``security``);
- rarely stalls: the union bound on an abort at this dropout rate (``stall_probability``) is at
  most ``stall_target``;
- on the sparse graph, the chance that dropouts split the ring, which would reveal the sum of each
  piece, is at most ``security`` (``split_probability``).

The sparse graph's degree k runs over even values from 2 ceil(log2 n) (the O(log n) degree of
Bell et al.) up; cost is the neighbourhood size (k + 1, or n on the full graph), so the full graph
is chosen only when no k < n - 1 works. Count clients that may go silent in ``dropout``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Literal

from pydantic import BaseModel, ConfigDict

from prism_secure.protocols.errors import ParameterError
from prism_secure.protocols.secagg.planning.security import min_threshold
from prism_secure.protocols.secagg.planning.stall import (
    binomial_pmfs,
    default_neighbours,
    split_probability,
    stall_probability,
)

Graph = Literal["full", "sparse"]
MAX_NEIGHBOURS = 1024  # the largest SecAgg+ degree searched


class Choice(BaseModel):
    """One secure setting and its bounds; ``neighbours`` is k (None on the full graph)."""

    model_config = ConfigDict(frozen=True)
    graph: Graph
    neighbours: int | None
    threshold: int
    clients: int
    dropout: float
    stall: float  # bound on the chance a round aborts at ``dropout``
    split: float  # bound on the chance dropouts split the SecAgg+ ring (0 on the full graph)
    corrupt_neighbours: int  # colluding clients per neighbourhood that t still resists

    def as_dict(self) -> dict[str, object]:
        return self.model_dump()


def corrupt_per_neighbourhood(n: int, holders: int, corrupt: float, security: float) -> int:
    """Colluders among ``holders`` other holders, exceeded for some client w.p. <= security."""
    if corrupt <= 0:
        return 0
    if holders >= n - 1:
        return math.floor(corrupt * n)
    pmf = binomial_pmfs(holders, corrupt)
    tail = 0.0  # P(more than c of the holders are corrupt), summed from the top down
    for c in range(holders, -1, -1):
        if n * (tail + pmf[c]) > security:
            return c
        tail += pmf[c]
    return 0


def candidates(
    n: int,
    dropout: float,
    *,
    corrupt: float = 0.0,
    security: float = 2.0**-40,
    graph: Graph | None = None,
    neighbours: int | None = None,
) -> list[Choice]:
    """Every secure setting for this cohort, cheapest (smallest neighbourhood) first."""
    return list(_settings(n, dropout, corrupt, security, graph, neighbours))


def _settings(
    n: int, dropout: float, corrupt: float, security: float, graph: Graph | None, k: int | None
) -> Iterator[Choice]:
    """:func:`candidates`, one at a time (the finder stops at the first that qualifies);
    ``k`` fixes the SecAgg+ degree."""
    if n < 2:
        raise ParameterError(f"secure aggregation needs at least 2 clients, got {n}")
    if not 0 <= dropout < 1 or not 0 <= corrupt < 1:
        raise ParameterError(f"dropout and corrupt must lie in [0, 1), got {dropout}, {corrupt}")
    if graph != "full":
        if k is not None:
            degrees = [k]
        else:
            top = n - 2 if graph is None else n - 1 + (n - 1) % 2  # sparse asked: allow k >= n-1
            top = min(top, MAX_NEIGHBOURS)
            top -= top % 2
            degrees = list(range(max(2, min(default_neighbours(n), top)), top + 1, 2))
        for degree in degrees:
            if degree < 2 or degree % 2:
                raise ParameterError(f"neighbours must be even and at least 2, got {degree}")
            yield from _setting(n, dropout, "sparse", degree, corrupt, security)
    if graph != "sparse":
        yield from _setting(n, dropout, "full", None, corrupt, security)


def _setting(
    n: int, dropout: float, graph: Graph, k: int | None, corrupt: float, security: float
) -> list[Choice]:
    holders = n - 1 if k is None else min(k, n - 1)
    c = corrupt_per_neighbourhood(n, holders, corrupt, security)
    t = min_threshold(graph, n, k, c)
    if t > holders + 1:
        return []
    return [
        Choice(
            graph=graph,
            neighbours=k,
            threshold=t,
            clients=n,
            dropout=dropout,
            stall=stall_probability(n, holders + 1, t, dropout),
            split=0.0 if k is None else split_probability(n, k, dropout),
            corrupt_neighbours=c,
        )
    ]


def choose(
    n: int,
    dropout: float,
    *,
    stall_target: float = 1e-6,
    corrupt: float = 0.0,
    security: float = 2.0**-40,
    graph: Graph | None = None,
    neighbours: int | None = None,
) -> Choice:
    """The cheapest secure setting whose stall bound is at most ``stall_target``.

    ``graph`` / ``neighbours`` fix the graph or k when given. Raises :class:`ParameterError`
    when nothing qualifies, naming the smallest stall bound that is possible.
    """
    found = []
    for choice in _settings(n, dropout, corrupt, security, graph, neighbours):
        if choice.stall <= stall_target and choice.split <= security:
            return choice
        found.append(choice)
    best = min((c.stall for c in found), default=1.0)
    raise ParameterError(
        f"no secure parameters for n = {n} at dropout {dropout:g} (corrupt {corrupt:g}) keep the "
        f"stall bound under {stall_target:g}; the best possible is {best:.3g}"
    )
