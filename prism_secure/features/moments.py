"""The paper's local loss: match the mean and per-dimension variance of features."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class FeatureMoments:
    """A client's real-data target: what the DP mechanism releases, and all training sees."""

    mean: torch.Tensor
    var: torch.Tensor

    @classmethod
    def exact(cls, features: torch.Tensor) -> FeatureMoments:
        return cls(features.mean(0), features.var(0, unbiased=False))


def moment_matching_loss(fake: torch.Tensor, target: FeatureMoments) -> torch.Tensor:
    """Squared distance of means plus of variances (a linear-kernel MMD with a variance term)."""
    mean = fake.mean(0)
    var = fake.var(0, unbiased=False)
    return (mean - target.mean).pow(2).sum() + (var - target.var).pow(2).sum()
