"""Running estimates of the moment differences, as GFMN and the paper's code use them.

Direct matching takes the gradient of ``|m - mu_b|^2 + |v - var_b|^2``, whose direction
``(m - mu_b, v - var_b)`` comes from one batch: with 64 samples spread over a client's classes,
a handful of rows per class estimate thousands of dimensions. The estimator keeps a running
estimate ``(a, b)`` of ``(m - mu, v - var)`` per class, moved towards each batch's difference
(by Adam on ``|a - (m - mu_b)|^2 / 2``, GFMN's "moving average", or by an exponential moving
average), and the generator follows ``-2 (a . mu_b + b . var_b)``: the direct gradient with the
noisy difference replaced by the estimate. Each class's estimate starts from its first batch's
difference, so a small learning rate smooths rather than delays.

The state is local to one client's round (``train_locally`` builds a fresh estimator from the
released targets each round): it is a function of the released statistics and the client's own
samples, and it never leaves the client.
"""

from __future__ import annotations

from typing import Literal

import torch

from prism_secure.features.moments import ClassMoments

EstimatorKind = Literal["adam", "ema"]


class MomentEstimator:
    def __init__(
        self,
        target: ClassMoments,
        kind: EstimatorKind = "adam",
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
    ) -> None:
        self.target, self.kind, self.lr = target, kind, lr
        self.mean_diff = torch.zeros_like(target.mean, requires_grad=True)
        self.var_diff = torch.zeros_like(target.var, requires_grad=True)
        self.seen = torch.zeros(target.mean.shape[0], dtype=torch.bool)
        self.opt = torch.optim.Adam([self.mean_diff, self.var_diff], lr=lr, betas=betas)

    @torch.no_grad()
    def update(self, classes: list[int], means: torch.Tensor, variances: torch.Tensor) -> None:
        """Move the estimates of ``classes`` towards this batch's differences (rows aligned)."""
        idx = torch.tensor(classes, dtype=torch.long, device=means.device)
        d_mean = self.target.mean[idx] - means
        d_var = self.target.var[idx] - variances
        fresh = ~self.seen[idx.cpu()].to(idx.device)
        self.mean_diff[idx[fresh]] = d_mean[fresh]
        self.var_diff[idx[fresh]] = d_var[fresh]
        old = idx[~fresh]
        if old.numel():
            g_mean = torch.zeros_like(self.mean_diff)
            g_var = torch.zeros_like(self.var_diff)
            g_mean[old] = self.mean_diff[old] - d_mean[~fresh]
            g_var[old] = self.var_diff[old] - d_var[~fresh]
            if self.kind == "ema":
                self.mean_diff.sub_(self.lr * g_mean)
                self.var_diff.sub_(self.lr * g_var)
            else:
                self.mean_diff.grad, self.var_diff.grad = g_mean, g_var
                self.opt.step()
                self.mean_diff.grad = self.var_diff.grad = None
        self.seen[idx.cpu()] = True

    def loss(self, fake: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, float]:
        """(the generator's surrogate loss, the direct loss of this batch for reporting)."""
        classes = torch.unique(labels).tolist()
        rows = [fake[labels == c] for c in classes]
        means = torch.stack([r.mean(0) for r in rows])
        variances = torch.stack([r.var(0, unbiased=False) for r in rows])
        self.update(classes, means.detach(), variances.detach())
        idx = torch.tensor(classes, dtype=torch.long, device=fake.device)
        w = self.target.weights[idx]
        a, b = self.mean_diff.detach()[idx], self.var_diff.detach()[idx]
        surrogate = -2.0 * (w * ((a * means).sum(1) + (b * variances).sum(1))).sum()
        with torch.no_grad():
            t_mean, t_var = self.target.mean[idx], self.target.var[idx]
            direct = (t_mean - means).pow(2).sum(1) + (t_var - variances).pow(2).sum(1)
            reported = float((w * direct).sum())
        return surrogate, reported
