"""The in-process engine: every client and the server in one process, only bytes between them.

Server and clients share nothing but messages: the server's state is the global scores and an
RNG; each client's state is its released target. Dropouts are simulated from the public seed, so
a resumed run reproduces an uninterrupted one exactly.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable

import numpy as np

from prism_secure.artifacts.schema import RoundTranscript
from prism_secure.config import RunConfig
from prism_secure.features.base import FeatureMap
from prism_secure.federation.broadcast import round_broadcast
from prism_secure.federation.client_round import Client, client_round
from prism_secure.federation.engine import (
    Engine,
    RoundCosts,
    RoundReport,
    aborted_record,
    completed_record,
)
from prism_secure.federation.seeds import model_digest
from prism_secure.federation.selection import participants, simulated_dropouts
from prism_secure.federation.server import Server
from prism_secure.federation.summers.base import MaskSummer, SumOutcome
from prism_secure.models.generators import MaskedGenerator
from prism_secure.protocols.errors import AbortedError


class InProcessEngine(Engine):
    def __init__(
        self,
        cfg: RunConfig,
        generator: MaskedGenerator,
        feature_map: FeatureMap,
        clients: list[Client],
        summer: MaskSummer,
        server: Server,
    ) -> None:
        self.cfg, self.generator, self.feature_map = cfg, generator, feature_map
        self.clients, self.summer, self.server = clients, summer, server
        self.totals = {"bytes_up": 0, "bytes_down": 0}
        self._by_id = {c.cid: c for c in clients}

    @property
    def cohort(self) -> int:
        return len(self.clients)

    def run_round(
        self, round_index: int, on_client: Callable[[int], None] | None = None
    ) -> RoundReport:
        t0 = time.perf_counter()
        chosen = participants(self.cfg, round_index, [c.cid for c in self.clients])
        scores, message = round_broadcast(self.cfg, self.server.scores, round_index)
        self.server.scores = scores  # the server keeps exactly what the clients decode
        uploads: dict[int, np.ndarray] = {}
        losses = []
        for cid in chosen:
            res = client_round(
                self.cfg, self.generator, self.feature_map, self._by_id[cid], scores, round_index
            )
            uploads[cid] = res.upload
            losses.append(res.loss)
            if on_client:
                on_client(cid)
        t_train = time.perf_counter() - t0
        drops = simulated_dropouts(self.cfg, round_index, chosen, self.summer.dropout_phases())
        loss = float(np.mean(losses))
        try:
            outcome = self.summer.sum(
                uploads,
                round_index=round_index,
                model_digest=model_digest(scores, round_index),
                dropouts=drops,
            )
        except AbortedError as exc:  # the round releases nothing and leaves the model unchanged
            warnings.warn(f"round {round_index}: secure aggregation aborted: {exc}", stacklevel=2)
            record = aborted_record(
                round_index, len(chosen), len(drops), str(exc), loss, time.perf_counter() - t0
            )
            return RoundReport(record, scores)
        info = self.server.update(outcome)
        down = {cid: len(message) + outcome.bytes_down.get(cid, 0) for cid in chosen}
        self.totals["bytes_up"] += sum(outcome.bytes_up.values())
        self.totals["bytes_down"] += sum(down.values())
        costs = RoundCosts(outcome.bytes_up, down, t_train, time.perf_counter() - t0)
        record = completed_record(
            round_index,
            len(chosen),
            len(drops),
            outcome,
            info,
            loss,
            self.server.scores,
            self.cfg.model.dense,
            costs,
        )
        return RoundReport(record, self.server.scores, _transcript(round_index, outcome, uploads))


def _transcript(
    round_index: int, outcome: SumOutcome, uploads: dict[int, np.ndarray]
) -> RoundTranscript | None:
    """Audit-only: the server's view next to each client's true mask, if it was recorded."""
    if outcome.transcript is None:
        return None
    return RoundTranscript(
        round_index,
        int(outcome.bits or 0),
        {str(c): m for c, m in outcome.transcript.items()},
        {str(c): uploads[c] for c in outcome.transcript},
    )
