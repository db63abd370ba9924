"""What one secure round over Flower gave the server: the aggregate and who is in it.

Nodes are Flower's node ids throughout; the protocol's client id of a node is its position in
``nodes`` (the round's invited node ids in ascending order, see :func:`client_ids`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from prism_secure.protocols import SessionParams
from prism_secure.protocols.adapters.flower.errors import RefusalReport
from prism_secure.protocols.adapters.flower.policy import SecureParams
from prism_secure.protocols.adapters.flower.quantise import AggregateUpdate


def client_ids(nodes: Iterable[int]) -> dict[int, int]:
    """Flower's 63-bit node ids to the protocol's 32-bit client ids: each node's rank among the
    round's invited nodes in ascending order (0 .. n-1). Deterministic, collision-free, and the
    same on every run of the same cohort; a client id means something within its round only."""
    ordered = sorted(set(nodes))
    return {node: cid for cid, node in enumerate(ordered)}


@dataclass
class SecureRound:
    """One round's outcome. ``aggregate`` is None exactly when the round aborted (``aborted``).

    ``survivors``: the nodes whose update is in the sum. ``dropped``: node -> the phase it left
    at (advertise, share, masked, consistency, unmask); a node that left after the masked phase
    is still a survivor. ``refused``: the refusal each node reported for its update (they
    dropped at advertise). ``errors``: what Flower or the protocol said about a node.
    """

    round: int
    nodes: list[int]
    params: SecureParams
    session: SessionParams
    aggregate: AggregateUpdate | None = None
    survivors: list[int] = field(default_factory=list)
    dropped: dict[int, str] = field(default_factory=dict)
    refused: dict[int, RefusalReport] = field(default_factory=dict)
    errors: dict[int, str] = field(default_factory=dict)
    aborted: str | None = None
    abort_phase: str | None = None
    bytes_up: dict[int, int] = field(default_factory=dict)  # Flower-carried, per node
    bytes_down: dict[int, int] = field(default_factory=dict)
    phase_seconds: dict[str, float] = field(default_factory=dict)  # wall time of each exchange
    server_seconds: float = 0.0  # the protocol server's compute and de-quantising

    @property
    def completed(self) -> bool:
        return self.aggregate is not None

    def client_id(self, node: int) -> int:
        return client_ids(self.nodes)[node]

    @property
    def clipped(self) -> int:
        """Entries clipped over all survivors (the server learns only the total)."""
        return 0 if self.aggregate is None else self.aggregate.clipped

    def sums(self) -> dict[str, np.ndarray]:
        """The exact de-quantised weighted sums of the survivors' updates, per array."""
        return self._agg().sums

    def mean(self) -> dict[str, np.ndarray]:
        """The survivors' weighted mean per array, in the declared dtypes."""
        return self._agg().mean()

    def mean_error_bound(self, name: str) -> float:
        """The largest error of any entry of ``mean()[name]`` against the clipped updates."""
        return self._agg().mean_error_bound(name)

    @property
    def sum_error_bound(self) -> float:
        return self._agg().sum_error_bound

    def _agg(self) -> AggregateUpdate:
        if self.aggregate is None:
            raise ValueError(f"round {self.round} aborted: {self.aborted}")
        return self.aggregate

    def summary(self) -> dict[str, object]:
        """JSON-ready: parameters, survivors, dropouts, refusals, clip count, bounds, costs."""
        agg = self.aggregate
        return {
            "round": self.round,
            "completed": self.completed,
            "aborted": self.aborted,
            "nodes": self.nodes,
            "threshold": self.session.threshold,
            "graph": self.session.graph,
            "bits": self.session.bits,
            "survivors": self.survivors,
            "dropped": {str(k): v for k, v in self.dropped.items()},
            "refused": {str(k): v.model_dump() for k, v in self.refused.items()},
            "errors": {str(k): v for k, v in self.errors.items()},
            "clipped": self.clipped,
            "total_weight": None if agg is None else agg.total_weight,
            "mean_error_bound": None
            if agg is None
            else {a.name: agg.mean_error_bound(a.name) for a in agg.layout.arrays},
            "phase_seconds": self.phase_seconds,
            "server_seconds": self.server_seconds,
            "bytes_up": {str(k): v for k, v in self.bytes_up.items()},
            "bytes_down": {str(k): v for k, v in self.bytes_down.items()},
        }
