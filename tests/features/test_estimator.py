"""The running moment estimator: its gradient, its noise reduction, and a client's use of it."""

from __future__ import annotations

import pytest
import torch

from prism_secure.config import FeatureConfig, ModelConfig, TrainingConfig, build_config
from prism_secure.errors import ConfigError
from prism_secure.features.estimator import MomentEstimator
from prism_secure.features.factory import build_feature_map
from prism_secure.features.moments import ClassMoments, batch_labels, class_moment_loss
from prism_secure.models.generators import build_generator
from prism_secure.training.client import train_locally


def _target(k: int = 3, d: int = 5, absent: int | None = None) -> ClassMoments:
    gen = torch.Generator().manual_seed(0)
    weights = torch.ones(k)
    if absent is not None:
        weights[absent] = 0.0
    return ClassMoments(
        torch.randn(k, d, generator=gen), torch.rand(k, d, generator=gen), weights / weights.sum()
    )


def test_first_batch_sets_each_class_estimate_to_its_difference() -> None:
    target = _target()
    est = MomentEstimator(target, "adam", 1e-3)
    labels = torch.tensor([0, 0, 0, 2, 2, 2])
    fake = torch.randn(6, 5)
    est.loss(fake, labels)
    for c in (0, 2):
        rows = fake[labels == c]
        torch.testing.assert_close(est.mean_diff[c], target.mean[c] - rows.mean(0))
        torch.testing.assert_close(est.var_diff[c], target.var[c] - rows.var(0, unbiased=False))
    assert bool((est.mean_diff[1] == 0).all()) and not bool(est.seen[1])


def test_with_no_smoothing_the_gradient_is_the_direct_one() -> None:
    """EMA weight 1 tracks each batch exactly: the surrogate's gradient equals the direct loss's."""
    target = _target()
    labels = batch_labels(target.weights, 12)
    est = MomentEstimator(target, "ema", 1.0)
    for step in range(3):
        fake = torch.randn(12, 5, generator=torch.Generator().manual_seed(step), requires_grad=True)
        surrogate, reported = est.loss(fake, labels)
        (g_est,) = torch.autograd.grad(surrogate, fake)
        direct = class_moment_loss(fake, labels, target)
        (g_direct,) = torch.autograd.grad(direct, fake)
        torch.testing.assert_close(g_est, g_direct)
        assert reported == pytest.approx(float(direct.detach()), rel=1e-5)


@pytest.mark.parametrize(("kind", "lr"), [("adam", 0.02), ("ema", 0.05)])
def test_the_estimate_is_closer_to_the_true_difference_than_one_batch(kind: str, lr: float) -> None:
    """Batches drawn from a fixed distribution: the running estimate averages their noise away."""
    d, k = 200, 2
    target = ClassMoments(torch.full((k, d), 0.5), torch.full((k, d), 2.0), torch.ones(k) / k)
    true_mean_diff = 0.5 - 0.0  # generated rows are N(0, 1)
    labels = batch_labels(target.weights, 16)
    est = MomentEstimator(target, kind, lr)  # type: ignore[arg-type]
    gen = torch.Generator().manual_seed(1)
    batch_errors = []
    for _ in range(400):
        fake = torch.randn(16, d, generator=gen)
        est.loss(fake, labels)
        one = target.mean[0] - fake[labels == 0].mean(0)
        batch_errors.append(float((one - true_mean_diff).pow(2).mean()))
    est_error = float((est.mean_diff[0] - true_mean_diff).pow(2).mean())
    assert est_error < 0.25 * sum(batch_errors) / len(batch_errors)


def test_a_class_the_client_lacks_is_never_estimated() -> None:
    target = _target(absent=1)
    est = MomentEstimator(target, "adam", 1e-2)
    labels = batch_labels(target.weights, 8)
    assert 1 not in labels.tolist()
    for step in range(5):
        est.loss(torch.randn(8, 5, generator=torch.Generator().manual_seed(step)), labels)
    assert bool((est.mean_diff[1] == 0).all()) and bool((est.var_diff[1] == 0).all())


def _client_round(estimator: str, seed: int = 3) -> torch.Tensor:
    gen = build_generator(ModelConfig(width=4, latent_dim=8), 7, 1, 3)
    fmap = build_feature_map(FeatureConfig(kind="rff", rff_dim=64), (1, 28, 28))
    target = _target(k=3, d=fmap.dim)
    target = ClassMoments(target.mean * 0.05, target.var * 0.01, target.weights)
    init = torch.randn(gen.num_maskable, generator=torch.Generator().manual_seed(0))
    cfg = TrainingConfig(local_iters=6, batch_size=12, moment_estimator=estimator)
    return train_locally(gen, fmap, target, init, cfg, seed).vector


def test_a_client_round_with_the_estimator_reproduces_and_differs_from_direct() -> None:
    first, again = _client_round("adam"), _client_round("adam")
    assert torch.equal(first, again)
    assert not torch.equal(first, _client_round("direct"))


def test_the_estimator_is_an_option_and_old_configs_keep_direct_matching() -> None:
    assert build_config(None, {}).training.moment_estimator == "direct"
    with pytest.raises(ConfigError, match="training.moment_estimator"):
        build_config(None, {"training.moment_estimator": "kalman"})
    with pytest.raises(ConfigError, match="training.estimator_lr"):
        build_config(None, {"training.estimator_lr": 0.0})
