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
    loss_of = _loss_fn(generator, feature_map, target, cfg.batch_size, device)
    tail = max(1, cfg.local_iters // 4)
    losses: list[float] = []
    for _ in range(cfg.local_iters):
        loss = loss_of(torch.randn(cfg.batch_size, generator.latent_dim, device=device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
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
    batch_size: int,
    device: torch.device,
) -> Callable[[torch.Tensor], torch.Tensor]:
    """The local loss of one latent batch; a conditional client's batch labels are fixed once."""
    if isinstance(target, ClassMoments):
        per_class = target.to(device)
        labels = batch_labels(target.weights, batch_size).to(device)
        return lambda z: class_moment_loss(feature_map(generator(z, labels)), labels, per_class)
    moments = FeatureMoments(target.mean.to(device), target.var.to(device))
    return lambda z: moment_matching_loss(feature_map(generator(z)), moments)


def generator_is_dense(generator: MaskedGenerator) -> bool:
    return any(m.dense for m in generator.masked_layers())
