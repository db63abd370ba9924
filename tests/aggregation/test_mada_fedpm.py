"""FedPM and MADA against hand-computed examples; the interface takes counts only."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from prism_secure.aggregation.base import mean_probability
from prism_secure.aggregation.fedpm import FedPM
from prism_secure.aggregation.mada import MADA, expected_hamming


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def test_fedpm_is_logit_of_mean_mask() -> None:
    counts = np.array([0, 1, 2, 4])
    res = FedPM(clip=0.01).aggregate(counts, 4, torch.zeros(4), torch.Generator())
    expected = [_logit(0.01), _logit(0.25), _logit(0.5), _logit(0.99)]
    assert torch.allclose(res.scores, torch.tensor(expected), atol=1e-5)


def test_mada_expected_lambda_by_hand() -> None:
    prev = torch.tensor([0.0, 0.0])  # theta_prev = 0.5 each
    counts = np.array([3, 1])  # theta_agg = 0.75, 0.25 with K = 4
    mada = MADA(space="logit", lam="expected", clip=0.01)
    res = mada.aggregate(counts, 4, prev, torch.Generator())
    lam = 0.5  # E[hamming] = p(1-q) + q(1-p) = 0.5 for p = 0.5, any q
    assert res.info["lambda"] == pytest.approx(lam)
    s_agg = torch.tensor([_logit(0.75), _logit(0.25)])
    assert torch.allclose(res.scores, lam * s_agg + (1 - lam) * prev, atol=1e-6)


def test_mada_probability_space_by_hand() -> None:
    prev = torch.logit(torch.tensor([0.9, 0.2]))
    counts = np.array([1, 2])  # theta_agg = 0.5, 1.0 -> clipped 0.99 with K = 2
    mada = MADA(space="prob", lam="expected", clip=0.01)
    res = mada.aggregate(counts, 2, prev, torch.Generator())
    p, q = torch.tensor([0.9, 0.2]), torch.tensor([0.5, 0.99])
    lam = float((p * (1 - q) + q * (1 - p)).mean())
    assert res.info["lambda"] == pytest.approx(lam, rel=1e-5)
    theta = lam * q + (1 - lam) * p
    assert torch.allclose(torch.sigmoid(res.scores), theta, atol=1e-5)


def test_sampled_lambda_is_unbiased_for_the_expected_one() -> None:
    prev = torch.randn(200_000, generator=torch.Generator().manual_seed(0))
    counts = np.random.default_rng(0).integers(0, 11, size=200_000)
    sampled = MADA(lam="sampled").aggregate(counts, 10, prev, torch.Generator().manual_seed(1))
    theta_agg = mean_probability(counts, 10, 0.01)
    exp = expected_hamming(torch.sigmoid(prev), theta_agg)
    assert sampled.info["lambda"] == pytest.approx(exp, abs=5e-3)


def test_counts_out_of_range_are_refused() -> None:
    with pytest.raises(ValueError):
        mean_probability(np.array([0, 5]), 4, 0.01)
    with pytest.raises(ValueError):
        mean_probability(np.array([0, 1]), 0, 0.01)
