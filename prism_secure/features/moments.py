"""The paper's local loss: match the mean and per-dimension variance of features.

The conditional variant matches them per class (as DP-MERF does with its label-weighted
embedding): each class's mean is a much sharper target than the mean over all classes.
"""

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


@dataclass(frozen=True)
class ClassMoments:
    """A conditional client's target: one mean and variance per class, and each class's weight.

    ``weights`` (K,) sum to 1 over the classes the client holds (from its released counts) and
    are 0 elsewhere; a class of weight 0 is neither generated nor matched at this client.
    """

    mean: torch.Tensor  # (K, D)
    var: torch.Tensor  # (K, D)
    weights: torch.Tensor  # (K,)

    def __post_init__(self) -> None:
        k = self.weights.shape[0]
        if self.mean.shape[0] != k or self.var.shape != self.mean.shape:
            raise ValueError("mean, var and weights must agree on the number of classes")
        if not bool((self.weights > 0).any()):
            raise ValueError("a conditional target needs at least one class of positive weight")

    def to(self, device: torch.device | str) -> ClassMoments:
        return ClassMoments(self.mean.to(device), self.var.to(device), self.weights.to(device))


def batch_labels(weights: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Labels for one generated batch: each class's share in proportion to its weight.

    Every class of positive weight gets at least two rows (a variance needs two) when the batch
    allows it; the rest goes by largest remainder, so the split is deterministic.
    """
    w = weights.detach().double().cpu()
    present = torch.nonzero(w > 0).flatten()
    floor = 2 if batch_size >= 2 * present.numel() else 1
    counts = torch.zeros_like(w, dtype=torch.long)
    counts[present] = floor
    spare = batch_size - int(counts.sum())
    if spare > 0:
        share = w / w.sum() * spare
        extra = share.floor().long()
        counts += extra
        left = spare - int(extra.sum())
        order = torch.argsort(share - extra, descending=True, stable=True)
        counts[order[:left]] += 1
    elif spare < 0:  # more classes than rows: the heaviest classes get one row each
        counts.zero_()
        counts[torch.argsort(w, descending=True, stable=True)[:batch_size]] = 1
    return torch.repeat_interleave(torch.arange(w.shape[0]), counts)


def class_moment_loss(
    fake: torch.Tensor, labels: torch.Tensor, target: ClassMoments
) -> torch.Tensor:
    """The moment-matching loss per class, weighted by the class weights."""
    loss = fake.new_zeros(())
    for c in torch.unique(labels).tolist():
        rows = fake[labels == c]
        moments = FeatureMoments(target.mean[c], target.var[c])
        loss = loss + target.weights[c] * moment_matching_loss(rows, moments)
    return loss
