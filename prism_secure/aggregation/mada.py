"""MADA: move the global scores towards the aggregate by an adaptive step lambda.

``lambda`` is the normalised Hamming distance between a mask drawn from the previous global
scores and one drawn from the aggregate (the paper), or its expectation (no sampling noise: the
sampled distance is ``mean(2 theta (1 - theta))`` even when nothing changed).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from prism_secure.aggregation.base import AggregationResult, Aggregator, mean_probability


def sampled_hamming(p: torch.Tensor, q: torch.Tensor, generator: torch.Generator) -> float:
    a = torch.bernoulli(p, generator=generator)
    b = torch.bernoulli(q, generator=generator)
    return float((a != b).float().mean())


def expected_hamming(p: torch.Tensor, q: torch.Tensor) -> float:
    return float((p * (1 - q) + q * (1 - p)).mean())


class MADA(Aggregator):
    def __init__(
        self,
        space: Literal["logit", "prob"] = "logit",
        lam: Literal["sampled", "expected"] = "sampled",
        clip: float = 0.01,
    ) -> None:
        self.space, self.lam, self.clip = space, lam, clip

    def aggregate(
        self,
        counts: np.ndarray,
        contributors: int,
        prev_scores: torch.Tensor,
        generator: torch.Generator,
    ) -> AggregationResult:
        theta_agg = mean_probability(counts, contributors, self.clip)
        theta_prev = torch.sigmoid(prev_scores)
        if self.lam == "sampled":
            lam = sampled_hamming(theta_prev, theta_agg, generator)
        else:
            lam = expected_hamming(theta_prev, theta_agg)
        if self.space == "logit":
            scores = lam * torch.logit(theta_agg) + (1 - lam) * prev_scores
        else:
            theta = (lam * theta_agg + (1 - lam) * theta_prev).clamp(self.clip, 1 - self.clip)
            scores = torch.logit(theta)
        return AggregationResult(scores, {"lambda": lam})
