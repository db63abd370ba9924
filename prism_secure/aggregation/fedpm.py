"""FedPM: the new global probability is the mean of the received masks."""

from __future__ import annotations

import numpy as np
import torch

from prism_secure.aggregation.base import AggregationResult, Aggregator, mean_probability


class FedPM(Aggregator):
    def __init__(self, clip: float = 0.01) -> None:
        self.clip = clip

    def aggregate(
        self,
        counts: np.ndarray,
        contributors: int,
        prev_scores: torch.Tensor,
        generator: torch.Generator,
    ) -> AggregationResult:
        theta = mean_probability(counts, contributors, self.clip)
        return AggregationResult(torch.logit(theta), {"lambda": 1.0})
