"""A client's round: Adam on the scores against its fixed real-feature moments, then one mask.

The client never touches its raw data here: its only view of the data is the (privatised)
:class:`FeatureMoments` computed once before training, so every round is post-processing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from prism_secure.config import TrainingConfig
from prism_secure.features.base import FeatureMap
from prism_secure.features.estimator import MomentEstimator
from prism_secure.features.moments import (
    ClassMoments,
    FeatureMoments,
    batch_labels,
    class_moment_loss,
    moment_matching_loss,
)
from prism_secure.models.generators import MaskedGenerator


@dataclass(frozen=True)
class LocalResult:
    vector: torch.Tensor  # scores (masked) or weights (dense) after local training
    upload: np.ndarray  # one Bernoulli mask sample as uint8 0/1, or float32 weights (dense)
    loss: float  # mean loss over the last quarter of local iterations


def train_locally(
    generator: MaskedGenerator,
    feature_map: FeatureMap,
    target: FeatureMoments | ClassMoments,
    global_vector: torch.Tensor,
    cfg: TrainingConfig,
    seed: int,
) -> LocalResult:
    """Run ``cfg.local_iters`` steps from the global state; all randomness comes from ``seed``."""
    device = torch.device(cfg.device)
    torch.manual_seed(seed)
    generator.set_vector(global_vector)
    generator.set_mode("dense" if generator_is_dense(generator) else "sample")
    generator.train()
    params = generator.trainable()
    opt = torch.optim.Adam(params, lr=cfg.lr, betas=cfg.betas)
    if isinstance(target, ClassMoments) != bool(generator.num_classes):
        raise ValueError("a conditional generator needs per-class targets, and only it")
    loss_of = _loss_fn(generator, feature_map, target, cfg, device)
    tail = max(1, cfg.local_iters // 4)
    losses: list[float] = []
    for _ in range(cfg.local_iters):
        loss, reported = loss_of(torch.randn(cfg.batch_size, generator.latent_dim, device=device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(reported)
    vector = generator.get_vector().cpu()
    if generator_is_dense(generator):
        upload = vector.numpy().astype(np.float32)
    else:
        gen = torch.Generator().manual_seed(seed + 1)
        upload = torch.bernoulli(torch.sigmoid(vector), generator=gen).to(torch.uint8).numpy()
    return LocalResult(vector, upload, float(np.mean(losses[-tail:])))


def _loss_fn(
    generator: MaskedGenerator,
    feature_map: FeatureMap,
    target: FeatureMoments | ClassMoments,
    cfg: TrainingConfig,
    device: torch.device,
) -> Callable[[torch.Tensor], tuple[torch.Tensor, float]]:
    """The local loss of one latent batch and the value to report; labels are fixed once.

    With ``cfg.moment_estimator`` other than ``"direct"`` the gradient follows the running
    estimates of :class:`MomentEstimator`, built fresh from the released targets each round.
    """
    if cfg.moment_estimator != "direct":
        per_class = _as_class_moments(target).to(device)
        labels = batch_labels(per_class.weights, cfg.batch_size).to(device)
        est = MomentEstimator(per_class, cfg.moment_estimator, cfg.estimator_lr)
        conditional = isinstance(target, ClassMoments)
        return lambda z: est.loss(
            feature_map(generator(z, labels) if conditional else generator(z)), labels
        )
    if isinstance(target, ClassMoments):
        per_class = target.to(device)
        labels = batch_labels(target.weights, cfg.batch_size).to(device)

        def conditional_loss(z: torch.Tensor) -> tuple[torch.Tensor, float]:
            loss = class_moment_loss(feature_map(generator(z, labels)), labels, per_class)
            return loss, float(loss.detach())

        return conditional_loss
    moments = FeatureMoments(target.mean.to(device), target.var.to(device))

    def loss(z: torch.Tensor) -> tuple[torch.Tensor, float]:
        value = moment_matching_loss(feature_map(generator(z)), moments)
        return value, float(value.detach())

    return loss


def _as_class_moments(target: FeatureMoments | ClassMoments) -> ClassMoments:
    """An unconditional target as one class of weight 1, so one estimator serves both."""
    if isinstance(target, ClassMoments):
        return target
    return ClassMoments(target.mean[None], target.var[None], torch.ones(1))


def generator_is_dense(generator: MaskedGenerator) -> bool:
    return any(m.dense for m in generator.masked_layers())
