"""The dense baseline's aggregator: the plain mean of the survivors' float weights."""

from __future__ import annotations

import numpy as np
import torch

from prism_secure.aggregation.base import AggregationResult, Aggregator


class MeanAggregator(Aggregator):
    """New global weights = the sum of the survivors' weights over their number (FedAvg)."""

    def aggregate(
        self,
        counts: np.ndarray,
        contributors: int,
        prev_scores: torch.Tensor,
        generator: torch.Generator,
    ) -> AggregationResult:
        if contributors <= 0:
            raise ValueError("aggregation needs at least one contributor")
        return AggregationResult(
            torch.from_numpy(counts.astype(np.float32) / contributors), {"lambda": 1.0}
        )
