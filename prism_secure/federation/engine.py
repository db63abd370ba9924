"""The in-process federation: clients, rounds, participation, dropouts, and exact byte counts.

Server and clients are separate objects that share nothing but messages: the server's state is
the global score vector and an RNG; each client's state is its (privatised) feature moments.
Everything random that shapes the result is drawn from ``(seed, round, client)``, so a resumed
run reproduces an uninterrupted one exactly.
"""

from __future__ import annotations

import hashlib
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from prism_secure.aggregation.mada import build_aggregator
from prism_secure.artifacts.schema import RoundTranscript
from prism_secure.config import RunConfig
from prism_secure.features.base import FeatureMap
from prism_secure.features.moments import ClassMoments, FeatureMoments
from prism_secure.federation.secure_sum import MaskSummer, SumOutcome, dropout_phases
from prism_secure.models.generators import MaskedGenerator
from prism_secure.training.client import train_locally


@dataclass
class Client:
    """A client as training sees it: its id and its released target, never its record count."""

    cid: int
    target: FeatureMoments | ClassMoments


def round_seed(seed: int, round_index: int, salt: int) -> int:
    digest = hashlib.sha256(f"{seed}|{round_index}|{salt}".encode()).digest()
    return int.from_bytes(digest[:7], "little")


def model_digest(scores: torch.Tensor, round_index: int) -> bytes:
    """Binds a secure-aggregation session to the exact global model sent this round."""
    h = hashlib.sha256(round_index.to_bytes(8, "little"))
    h.update(scores.detach().cpu().float().numpy().tobytes())
    return h.digest()


@dataclass
class RoundReport:
    record: dict[str, Any]
    scores: torch.Tensor
    transcript: RoundTranscript | None = None


class Server:
    """Holds the global scores; turns the count vector (never a mask) into the next scores."""

    def __init__(
        self, cfg: RunConfig, scores: torch.Tensor, rng_state: torch.Tensor | None
    ) -> None:
        fed = cfg.federation
        self.dense = cfg.model.dense
        self.aggregator = build_aggregator(
            fed.aggregator, fed.mada_space, fed.mada_lambda, fed.theta_clip
        )
        self.scores = scores
        self.rng = torch.Generator().manual_seed(round_seed(cfg.seed, -1, 7))
        if rng_state is not None:
            self.rng.set_state(rng_state)

    def update(self, outcome: SumOutcome) -> dict[str, float]:
        k = len(outcome.survivors)
        if self.dense:
            self.scores = torch.from_numpy(outcome.counts.astype(np.float32) / k)
            return {"lambda": 1.0}
        result = self.aggregator.aggregate(outcome.counts, k, self.scores, self.rng)
        self.scores = result.scores
        return result.info


class FederatedEngine:
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
        self.phases = dropout_phases() if summer.name != "none" else ["upload"]
        self.totals = {"bytes_up": 0, "bytes_down": 0}

    def participants(self, round_index: int) -> list[Client]:
        k = len(self.clients)
        m = max(1, math.ceil(self.cfg.federation.participation * k))
        rng = np.random.default_rng(round_seed(self.cfg.seed, round_index, 1))
        chosen = sorted(rng.choice(k, size=m, replace=False).tolist())
        return [self.clients[i] for i in chosen]

    def dropouts(self, round_index: int, chosen: list[Client]) -> dict[int, str]:
        p = self.cfg.federation.dropout
        rng = np.random.default_rng(round_seed(self.cfg.seed, round_index, 2))
        drops = {}
        for c in chosen:
            if rng.random() < p:
                drops[c.cid] = self.phases[int(rng.integers(len(self.phases)))]
        return drops

    def run_round(
        self, round_index: int, on_client: Callable[[int], None] | None = None
    ) -> RoundReport:
        t0 = time.perf_counter()
        chosen = self.participants(round_index)
        scores = self.server.scores
        d = scores.numel()
        uploads: dict[int, np.ndarray] = {}
        losses = []
        for c in chosen:
            seed = round_seed(self.cfg.seed, round_index, 100 + c.cid)
            res = train_locally(
                self.generator, self.feature_map, c.target, scores, self.cfg.training, seed
            )
            uploads[c.cid] = res.upload
            losses.append(res.loss)
            if on_client:
                on_client(c.cid)
        t_train = time.perf_counter() - t0
        drops = self.dropouts(round_index, chosen)
        record: dict[str, Any] = {
            "round": round_index,
            "participants": len(chosen),
            "dropped": len(drops),
        }
        try:
            outcome = self.summer.sum(
                uploads,
                round_index=round_index,
                model_digest=model_digest(scores, round_index),
                dropouts=drops,
            )
        except Exception as exc:  # a protocol abort: the round releases nothing, model unchanged
            if type(exc).__name__ not in ("AbortedError",):
                raise
            warnings.warn(f"round {round_index}: secure aggregation aborted: {exc}", stacklevel=2)
            record.update(
                aborted=True,
                reason=str(exc),
                loss=float(np.mean(losses)),
                seconds=time.perf_counter() - t0,
            )
            return RoundReport(record, scores)
        info = self.server.update(outcome)
        down = {c.cid: 4 * d + outcome.bytes_down.get(c.cid, 0) for c in chosen}
        up = outcome.bytes_up
        self.totals["bytes_up"] += sum(up.values())
        self.totals["bytes_down"] += sum(down.values())
        mean_up = float(np.mean(list(up.values()))) if up else 0.0
        theta = torch.sigmoid(self.server.scores)
        record.update(
            survivors=len(outcome.survivors),
            loss=float(np.mean(losses)),
            mask_density=float(theta.mean()) if not self.cfg.model.dense else None,
            bytes_up_per_client=mean_up,
            bytes_down_per_client=float(np.mean(list(down.values()))),
            bits_up_per_param=8.0 * mean_up / d,
            secagg_seconds=outcome.seconds,
            secagg_server_seconds=outcome.server_seconds,
            train_seconds=t_train,
            seconds=time.perf_counter() - t0,
            aborted=False,
            **info,
        )
        transcript = None
        if outcome.transcript is not None:
            # Audit-only: the server's view next to each client's true mask.
            transcript = RoundTranscript(
                round_index,
                int(outcome.bits or 0),
                {str(c): m for c, m in outcome.transcript.items()},
                {str(c): uploads[c] for c in outcome.transcript},
            )
        return RoundReport(record, self.server.scores, transcript)
