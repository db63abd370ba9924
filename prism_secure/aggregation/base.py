"""The server's side of aggregation sees only counts: how many contributors kept each weight.

That is the whole interface on purpose: with secure aggregation the server cannot get anything
per-client, so no aggregator here may need it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass(frozen=True)
class AggregationResult:
    scores: torch.Tensor
    info: dict[str, float] = field(default_factory=dict)


def mean_probability(counts: np.ndarray, contributors: int, clip: float) -> torch.Tensor:
    """FedPM's Beta-posterior mode with a uniform prior, clipped away from 0 and 1."""
    if contributors <= 0:
        raise ValueError("aggregation needs at least one contributor")
    c = np.asarray(counts)
    if c.min(initial=0) < 0 or c.max(initial=0) > contributors:
        raise ValueError(f"counts must lie in [0, {contributors}]")
    theta = torch.from_numpy(c.astype(np.float64) / contributors).float()
    return theta.clamp(clip, 1.0 - clip)


class Aggregator(ABC):
    @abstractmethod
    def aggregate(
        self,
        counts: np.ndarray,
        contributors: int,
        prev_scores: torch.Tensor,
        generator: torch.Generator,
    ) -> AggregationResult:
        """New global scores from the count vector and the previous global scores."""
