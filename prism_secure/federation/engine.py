"""The engine interface: what carries one round's messages between clients and the server.

Every engine runs the same round (the clients' :func:`~.client_round.client_round`, a secure sum,
the :class:`~.server.Server`'s update) and differs only in transport: in one process
(:class:`~.inprocess.InProcessEngine`), or between a Flower ServerApp and ClientApps on
SuperNodes. A round's report is the same record either way, so run directories, checkpoints and
the training loop are shared.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from prism_secure.artifacts.schema import RoundTranscript
from prism_secure.federation.server import Server
from prism_secure.federation.summers.base import SumOutcome


@dataclass
class RoundReport:
    """One round as ``metrics.jsonl`` records it, the scores after it, and (audits) the view."""

    record: dict[str, Any]
    scores: torch.Tensor
    transcript: RoundTranscript | None = None


class Engine(ABC):
    """Runs rounds; ``server`` holds the global scores, ``totals`` the bytes carried so far."""

    server: Server
    totals: dict[str, int]

    @abstractmethod
    def run_round(
        self, round_index: int, on_client: Callable[[int], None] | None = None
    ) -> RoundReport:
        """Run round ``round_index``; an aborted secure sum leaves the scores unchanged."""

    @property
    @abstractmethod
    def cohort(self) -> int:
        """How many clients the engine draws each round's participants from."""


@dataclass
class RoundCosts:
    """Bytes each client moved and seconds the round took, for its record."""

    bytes_up: dict[int, int]
    bytes_down: dict[int, int]
    train_seconds: float
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)


def aborted_record(
    round_index: int, participants: int, dropped: int, reason: str, loss: float, seconds: float
) -> dict[str, Any]:
    """A round whose secure sum aborted: it released nothing and left the model as it was."""
    return {
        "round": round_index,
        "participants": participants,
        "dropped": dropped,
        "aborted": True,
        "reason": reason,
        "loss": loss,
        "seconds": seconds,
    }


def completed_record(
    round_index: int,
    participants: int,
    dropped: int,
    outcome: SumOutcome,
    info: dict[str, float],
    loss: float,
    scores: torch.Tensor,
    dense: bool,
    costs: RoundCosts,
) -> dict[str, Any]:
    """A completed round's metrics: survivors, loss, aggregator info, bytes and seconds."""
    d = scores.numel()
    up, down = costs.bytes_up, costs.bytes_down
    counts = np.ascontiguousarray(outcome.counts, dtype=np.int64)
    mean_up = float(np.mean(list(up.values()))) if up else 0.0
    return {
        "round": round_index,
        "participants": participants,
        "dropped": dropped,
        "survivors": len(outcome.survivors),
        "counts_sha256": hashlib.sha256(counts.tobytes()).hexdigest()[:16],
        "loss": loss,
        "mask_density": None if dense else float(torch.sigmoid(scores).mean()),
        "bytes_up_per_client": mean_up,
        "bytes_down_per_client": float(np.mean(list(down.values()))) if down else 0.0,
        "bits_up_per_param": 8.0 * mean_up / d,
        "secagg_seconds": outcome.seconds,
        "secagg_server_seconds": outcome.server_seconds,
        "train_seconds": costs.train_seconds,
        "seconds": costs.seconds,
        "aborted": False,
        **costs.extra,
        **info,
    }
