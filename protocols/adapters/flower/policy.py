"""Threshold and graph for a Flower cohort: from the parameter finder, or given and checked.

The split-view rule: a server that tells some holders of a client's shares "it survived" and
others "it dropped" collects both of its secrets once t holders of each kind answer, which
needs 2t <= o + 1 where o is the number of other clients holding shares (n - 1 on the full
graph, k on the SecAgg+ graph). So t must satisfy 2t > n on the full graph and 2t > k on the
sparse one. Parameters that break the rule are refused with :class:`InsecureParametersError`
unless ``allow_insecure=True``, which warns loudly (a Python warning and a line on stderr).

Without an explicit threshold, :func:`prism_secure.protocols.choose` (the parameter finder)
picks the cheapest secure setting whose chance of stalling at the expected dropout rate is at
most ``stall_target``. The protocol's ``SessionParams`` refuses insecure parameters unless it is
marked ``insecure``, which the round plan does only after ``allow_insecure``; each node's mod
then refuses such a session unless the node passed ``allow_insecure`` too.
"""

from __future__ import annotations

import sys
import warnings
from typing import Literal

from pydantic import BaseModel, ConfigDict

import prism_secure.protocols as protocols
from prism_secure.errors import ConfigError
from prism_secure.protocols.adapters.flower.errors import (
    InsecureParametersError,
    InsecureParametersWarning,
)
from prism_secure.protocols.errors import ParameterError

Graph = Literal["full", "sparse"]


class SecureParams(BaseModel):
    """What the session uses: graph, k (sparse only), t; and where they came from."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    clients: int
    graph: Graph
    neighbours: int | None
    threshold: int
    source: Literal["finder", "explicit"]
    secure: bool
    stall: float | None = None  # bound on the chance a round aborts at the expected dropout

    def session_kwargs(self) -> dict[str, object]:
        """Keyword arguments for ``SessionParams`` / ``run_secure_sum``."""
        return {"threshold": self.threshold, "graph": self.graph, "neighbours": self.neighbours}


def other_holders(clients: int, graph: Graph, neighbours: int | None) -> int:
    """o: how many other clients hold shares of one client's secrets."""
    return clients - 1 if graph == "full" or neighbours is None else min(neighbours, clients - 1)


def is_secure(clients: int, graph: Graph, neighbours: int | None, threshold: int) -> bool:
    """The split-view rule: 2t > o + 1 (2t > n full, 2t > k sparse with k even)."""
    return 2 * threshold > other_holders(clients, graph, neighbours) + 1


def choose_params(
    clients: int,
    dropout: float = 0.1,
    *,
    threshold: int | None = None,
    graph: Graph | None = None,
    neighbours: int | None = None,
    stall_target: float = 1e-6,
    allow_insecure: bool = False,
) -> SecureParams:
    """Parameters for ``clients`` clients of whom a fraction ``dropout`` may drop out.

    Give ``threshold`` (and ``graph`` / ``neighbours``) to fix them; they are then checked, not
    chosen. Without it the finder chooses; when no secure setting meets ``stall_target`` at this
    dropout rate, :class:`ConfigError` (field ``dropout``) names the best stall bound possible.
    """
    _check_cohort(clients, dropout, graph, neighbours)
    if threshold is not None:
        return _explicit(clients, threshold, graph or "full", neighbours, allow_insecure)
    try:
        choice = protocols.choose(
            clients, dropout, stall_target=stall_target, graph=graph, neighbours=neighbours
        )
    except ParameterError as exc:
        raise ConfigError("dropout", f"{exc}; give the threshold explicitly") from None
    params = SecureParams(
        clients=clients,
        graph=choice.graph,
        neighbours=choice.neighbours,
        threshold=choice.threshold,
        source="finder",
        stall=choice.stall,
        secure=is_secure(clients, choice.graph, choice.neighbours, choice.threshold),
    )
    if not params.secure:  # the finder never does this; refuse rather than trust blindly
        raise InsecureParametersError("threshold", f"the finder returned insecure {params}")
    return params


def _check_cohort(clients: int, dropout: float, graph: str | None, k: int | None) -> None:
    if isinstance(clients, bool) or not isinstance(clients, int) or clients < 2:
        raise ConfigError(
            "clients", f"secure aggregation needs at least 2 clients, got {clients!r}"
        )
    if not 0 <= dropout < 1:
        raise ConfigError("dropout", f"must lie in [0, 1), got {dropout}")
    if graph not in (None, "full", "sparse"):
        raise ConfigError("graph", f"must be 'full' or 'sparse', got {graph!r}")
    if k is not None and (k < 2 or k % 2):
        raise ConfigError("neighbours", f"must be even and at least 2, got {k}")
    if graph == "full" and k is not None:
        raise ConfigError("neighbours", "applies to the sparse graph only")


def _explicit(
    clients: int, threshold: int, graph: Graph, neighbours: int | None, allow_insecure: bool
) -> SecureParams:
    if graph == "sparse" and neighbours is None:
        raise ConfigError("neighbours", "the sparse graph needs neighbours (k) with a threshold")
    holders = other_holders(clients, graph, neighbours)
    if not 2 <= threshold <= holders + 1:
        raise ConfigError(
            "threshold", f"must lie in [2, {holders + 1}] (a client and its {holders} holders)"
        )
    secure = is_secure(clients, graph, neighbours, threshold)
    if not secure:
        rule = "2t > n on the full graph" if graph == "full" else "2t > k on the sparse graph"
        text = (
            f"threshold t = {threshold} with {clients} clients on the {graph} graph"
            f"{f' (k = {neighbours})' if graph == 'sparse' else ''} breaks the rule {rule}: "
            "a server that shows different survivor lists to different clients can unmask "
            "individual updates"
        )
        if not allow_insecure:
            raise InsecureParametersError(
                "threshold", text + "; pass allow_insecure=True to accept"
            )
        warnings.warn(
            f"INSECURE secure-aggregation parameters: {text}",
            InsecureParametersWarning,
            stacklevel=3,
        )
        print(f"WARNING: INSECURE secure-aggregation parameters: {text}", file=sys.stderr)
    return SecureParams(
        clients=clients,
        graph=graph,
        neighbours=neighbours if graph == "sparse" else None,
        threshold=threshold,
        source="explicit",
        secure=secure,
    )
