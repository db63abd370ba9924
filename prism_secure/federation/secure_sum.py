"""How the clients' masks become the server's count vector.

The engine hands client-side inputs to a :class:`MaskSummer`; what comes back is exactly what the
server learns: the count vector, who survived, and what it cost. Only ``PlainSum`` (chosen
explicitly with ``--secure-agg none``) lets the server see individual masks.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from prism_secure.config import SecureAggConfig


@dataclass(frozen=True)
class SumOutcome:
    counts: np.ndarray
    survivors: list[int]
    bytes_up: dict[int, int]
    bytes_down: dict[int, int]
    seconds: float
    server_seconds: float = 0.0
    client_seconds: float = 0.0
    bits: int | None = None
    transcript: dict[int, np.ndarray] | None = field(default=None, repr=False)


def outcome_of(res: Any, start: float) -> SumOutcome:
    """What the server learns from a protocol result (``SecureSumResult`` or a subclass)."""
    return SumOutcome(
        counts=np.asarray(res.total, dtype=np.int64),
        survivors=sorted(res.survivors),
        bytes_up=dict(res.bytes_up_per_client),
        bytes_down=dict(res.bytes_down_per_client),
        seconds=time.perf_counter() - start,
        server_seconds=res.server_seconds,
        client_seconds=res.client_seconds,
        bits=res.bits,
        transcript=res.transcript,
    )


def release_threshold(cfg: SecureAggConfig, n: int) -> int:
    """The Shamir threshold t: ``ceil(threshold * m)``, and never 1 of many.

    ``m`` is the number of clients holding shares of one secret: all ``n`` on the full graph and
    for the homomorphic path, ``k + 1`` on the SecAgg+ graph, where t counts per neighbourhood.
    """
    if n <= 1:
        return 1
    group = n
    if cfg.mode == "pairwise" and cfg.graph == "sparse":
        from prism_secure.protocols.params import neighbourhood_size

        group = neighbourhood_size(n, "sparse", cfg.neighbours)
    return max(2, math.ceil(cfg.threshold * group))


def stall_risk(cfg: SecureAggConfig, n: int, dropout: float) -> float:
    """Bound on the chance that a round of ``n`` clients aborts at this dropout rate (pairwise)."""
    if cfg.mode != "pairwise" or n <= 1 or dropout <= 0:
        return 0.0
    from prism_secure.protocols.params import neighbourhood_size, stall_probability

    group = neighbourhood_size(n, cfg.graph, cfg.neighbours)
    return stall_probability(n, group, release_threshold(cfg, n), dropout)


class MaskSummer(ABC):
    name: str

    @abstractmethod
    def sum(
        self,
        inputs: dict[int, np.ndarray],
        *,
        round_index: int,
        model_digest: bytes,
        dropouts: dict[int, str],
    ) -> SumOutcome:
        """Sum 0/1 vectors over the clients that survive ``dropouts`` (client -> phase)."""


class PlainSum(MaskSummer):
    """No protection: the server receives every packed mask. For comparison only."""

    name = "none"

    def sum(
        self,
        inputs: dict[int, np.ndarray],
        *,
        round_index: int,
        model_digest: bytes,
        dropouts: dict[int, str],
    ) -> SumOutcome:
        start = time.perf_counter()
        survivors = sorted(c for c in inputs if c not in dropouts)
        first = next(iter(inputs.values()))
        d = len(first)
        floating = np.issubdtype(first.dtype, np.floating)
        total = np.zeros(d, dtype=np.float64 if floating else np.int64)
        for c in survivors:
            total += inputs[c]
        packed = 4 * d if floating else math.ceil(d / 8)
        return SumOutcome(
            counts=total,
            survivors=survivors,
            bytes_up={c: packed for c in survivors},
            bytes_down={c: 0 for c in survivors},
            seconds=time.perf_counter() - start,
        )


class PairwiseSum(MaskSummer):
    """SecAgg / SecAgg+ through the sans-IO state machines of :mod:`prism_secure.protocols`."""

    name = "pairwise"

    def __init__(self, cfg: SecureAggConfig, record_transcript: bool = False) -> None:
        self.cfg = cfg
        self.record_transcript = record_transcript

    def sum(
        self,
        inputs: dict[int, np.ndarray],
        *,
        round_index: int,
        model_digest: bytes,
        dropouts: dict[int, str],
    ) -> SumOutcome:
        from prism_secure.protocols.driver import run_secure_sum

        start = time.perf_counter()
        res = run_secure_sum(
            inputs,
            threshold=release_threshold(self.cfg, len(inputs)),
            graph=self.cfg.graph,
            neighbours=self.cfg.neighbours,
            round_index=round_index,
            model_digest=model_digest,
            dropouts=dropouts or None,
            record_transcript=self.record_transcript,
        )
        return outcome_of(res, start)


def dropout_phases() -> list[str]:
    from prism_secure.protocols.driver import phase_names

    return phase_names()


def build_summer(cfg: SecureAggConfig) -> MaskSummer:
    if cfg.mode == "none":
        return PlainSum()
    if cfg.mode == "he":
        from prism_secure.federation.he_sum import HomomorphicSum

        return HomomorphicSum(cfg)
    return PairwiseSum(cfg, cfg.record_transcript)
