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
from prism_secure.errors import ConfigError


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
        bits=res.secagg.bits if res.secagg is not None else None,
        transcript=res.transcript,
    )


def chosen_parameters(
    cfg: SecureAggConfig, n: int, dropout: float | None = None
) -> dict[str, object]:
    """The graph, k and t a round of ``n`` clients uses, with the bound on its abort risk.

    What the user left unset (``threshold``, ``neighbours``) comes from the parameter finder
    (:func:`prism_secure.protocols.secagg.params.choose`), planning for ``cfg.dropout`` (else
    ``dropout``, else none). On the full graph and the homomorphic path ``neighbours`` is None.
    """
    plan = cfg.dropout if cfg.dropout is not None else (dropout or 0.0)
    if cfg.mode != "pairwise" or n <= 1:
        fraction = 0.5 if cfg.threshold is None else cfg.threshold
        t = 1 if n <= 1 else max(2, math.ceil(fraction * n))
        return {"graph": "full", "neighbours": None, "threshold": t, "clients": n, "stall": 0.0}
    from prism_secure.protocols.secagg.params import (
        min_threshold,
        neighbourhood_size,
        stall_probability,
    )

    k = _neighbours(cfg, n, plan) if cfg.graph == "sparse" else None
    group = neighbourhood_size(n, cfg.graph, k)
    least = min_threshold(cfg.graph, n, k)
    if cfg.threshold is None:
        t = least
    else:
        t = max(2, math.ceil(cfg.threshold * group))
        if t < least:
            rule = "2t > n" if cfg.graph == "full" else "2t > k"
            raise ConfigError(
                "secure_agg.threshold",
                f"{cfg.threshold:g} gives t = {t} of {group}, which the rule {rule} refuses (need "
                f"t >= {least}: a server could show two groups different survivor lists and "
                "unmask a client); leave it unset to let the parameter finder choose",
            )
    stall = stall_probability(n, group, t, plan)
    return {"graph": cfg.graph, "neighbours": k, "threshold": t, "clients": n, "stall": stall}


def _neighbours(cfg: SecureAggConfig, n: int, dropout: float) -> int:
    """The SecAgg+ degree: the user's, or the finder's (its least risky if none qualifies)."""
    from prism_secure.protocols.errors import ParameterError
    from prism_secure.protocols.secagg.params import candidates, choose

    if cfg.neighbours is not None:
        if cfg.neighbours % 2:
            raise ConfigError("secure_agg.neighbours", f"must be even, got {cfg.neighbours}")
        return cfg.neighbours
    try:
        found = choose(n, dropout, graph="sparse", stall_target=cfg.stall_target)
    except ParameterError:  # nothing meets the target: the least risky k (the run warns)
        found = min(candidates(n, dropout, graph="sparse"), key=lambda c: (c.stall, c.split))
    assert found.neighbours is not None
    return found.neighbours


def release_threshold(cfg: SecureAggConfig, n: int, dropout: float | None = None) -> int:
    """The Shamir threshold t (for the homomorphic path: the fewest uploads), never 1 of many.

    t counts the holders of one secret: all ``n`` on the full graph and for the homomorphic
    path, ``k + 1`` on the SecAgg+ graph; see :func:`chosen_parameters`.
    """
    return int(chosen_parameters(cfg, n, dropout)["threshold"])  # type: ignore[call-overload]


def stall_risk(cfg: SecureAggConfig, n: int, dropout: float) -> float:
    """Bound on the chance that a round of ``n`` clients aborts at this dropout rate (pairwise)."""
    if cfg.mode != "pairwise" or n <= 1 or dropout <= 0:
        return 0.0
    from prism_secure.protocols.secagg.params import neighbourhood_size, stall_probability

    chosen = chosen_parameters(cfg, n, dropout)
    k = chosen["neighbours"]
    group = neighbourhood_size(n, cfg.graph, k)  # type: ignore[arg-type]
    return stall_probability(n, group, chosen["threshold"], dropout)  # type: ignore[arg-type]


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
        from prism_secure.protocols.secagg.driver import run_secure_sum

        start = time.perf_counter()
        chosen = chosen_parameters(self.cfg, len(inputs))
        res = run_secure_sum(
            inputs,
            threshold=chosen["threshold"],  # type: ignore[arg-type]
            graph=self.cfg.graph,
            neighbours=chosen["neighbours"],  # type: ignore[arg-type]
            round_index=round_index,
            model_digest=model_digest,
            dropouts=dropouts or None,
            record_transcript=self.record_transcript,
        )
        return outcome_of(res, start)


def dropout_phases() -> list[str]:
    from prism_secure.protocols.secagg.driver import phase_names

    return phase_names()


def build_summer(cfg: SecureAggConfig) -> MaskSummer:
    if cfg.mode == "none":
        return PlainSum()
    if cfg.mode == "he":
        from prism_secure.federation.he_sum import HomomorphicSum

        return HomomorphicSum(cfg)
    return PairwiseSum(cfg, cfg.record_transcript)
