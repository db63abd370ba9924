"""What every secure sum returns to the server, and the interface each one implements."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

from prism_secure.protocols.result import SecureSumResult


@dataclass(frozen=True)
class SumOutcome:
    """What the server learns from one round's sum: counts, survivors, and the cost."""

    counts: np.ndarray
    survivors: list[int]
    bytes_up: dict[int, int]
    bytes_down: dict[int, int]
    seconds: float
    server_seconds: float = 0.0
    client_seconds: float = 0.0
    bits: int | None = None
    transcript: dict[int, np.ndarray] | None = field(default=None, repr=False)


def outcome_of(res: SecureSumResult, start: float) -> SumOutcome:
    """The server's view of a protocol result, timed from ``start``."""
    return SumOutcome(
        counts=np.asarray(res.total, dtype=np.int64),
        survivors=sorted(res.survivors),
        bytes_up=dict(res.bytes_up_per_client),
        bytes_down=dict(res.bytes_down_per_client),
        seconds=time.perf_counter() - start,
        server_seconds=res.server_seconds,
        client_seconds=res.client_seconds,
        bits=res.secagg.bits if res.secagg is not None else None,
        transcript=res.transcript,
    )


@dataclass(frozen=True)
class SumRequest:
    """One round's sum: each client's 0/1 vector, the round it binds to, who drops and where."""

    inputs: dict[int, np.ndarray]
    round_index: int
    model_digest: bytes
    dropouts: dict[int, str]
    started: float = field(default_factory=time.perf_counter)


class MaskSummer(ABC):
    name: str

    def sum(
        self,
        inputs: dict[int, np.ndarray],
        *,
        round_index: int,
        model_digest: bytes,
        dropouts: dict[int, str],
    ) -> SumOutcome:
        """Sum 0/1 vectors over the clients that survive ``dropouts`` (client -> phase)."""
        return self._sum(SumRequest(inputs, round_index, model_digest, dropouts))

    @abstractmethod
    def _sum(self, request: SumRequest) -> SumOutcome:
        """The summer's own protocol; ``request.started`` times the outcome."""

    @abstractmethod
    def dropout_phases(self) -> list[str]:
        """The phases at which a simulated client can vanish, in protocol order."""
