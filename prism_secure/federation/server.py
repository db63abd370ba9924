"""The server: global scores and an RNG; the count vector (never a mask) in, new scores out."""

from __future__ import annotations

import torch

from prism_secure.aggregation.factory import build_aggregator
from prism_secure.config import RunConfig
from prism_secure.federation.seeds import round_seed
from prism_secure.federation.summers.base import SumOutcome


class Server:
    def __init__(
        self, cfg: RunConfig, scores: torch.Tensor, rng_state: torch.Tensor | None
    ) -> None:
        self.aggregator = build_aggregator(cfg)
        self.scores = scores
        self.rng = torch.Generator().manual_seed(round_seed(cfg.seed, -1, 7))
        if rng_state is not None:
            self.rng.set_state(rng_state)

    def update(self, outcome: SumOutcome) -> dict[str, float]:
        """Aggregate the survivors' sum into new global scores; what the aggregator reports."""
        result = self.aggregator.aggregate(
            outcome.counts, len(outcome.survivors), self.scores, self.rng
        )
        self.scores = result.scores
        return result.info
