"""Metrics on score distributions whose AUC, TPR and epsilon are known in closed form."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from prism_secure.audits.errors import AuditInputError
from prism_secure.audits.metrics import (
    auc_score,
    bootstrap_auc_ci,
    clopper_pearson,
    one_run_epsilon_lower_bound,
    one_run_p_value,
    roc_curve,
    summarize_scores,
    threshold_epsilon_lower_bound,
    tpr_at_fpr,
)


def _gaussian_scores(mu: float, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    scores = np.r_[rng.normal(mu, 1, n), rng.normal(0, 1, n)]
    labels = np.r_[np.ones(n), np.zeros(n)]
    return scores, labels


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(-5, 5), min_size=1, max_size=30),
    st.lists(st.integers(-5, 5), min_size=1, max_size=30),
)
def test_auc_equals_pairwise_definition_with_ties(pos: list[int], neg: list[int]) -> None:
    brute = np.mean([1.0 if p > q else 0.5 if p == q else 0.0 for p in pos for q in neg])
    labels = [1] * len(pos) + [0] * len(neg)
    assert auc_score(pos + neg, labels) == pytest.approx(brute)
    fpr, tpr, _ = roc_curve(pos + neg, labels)
    assert np.trapezoid(tpr, fpr) == pytest.approx(brute)  # the curve is exact, ties included


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=2, max_size=40), st.integers(0, 2**32 - 1))
def test_auc_of_flipped_scores_is_one_minus_auc(scores: list[float], seed: int) -> None:
    labels = np.random.default_rng(seed).integers(0, 2, len(scores))
    labels[0], labels[1] = 0, 1
    assert auc_score(scores, labels) + auc_score(-np.asarray(scores), labels) == pytest.approx(1)


@pytest.mark.parametrize("mu", [0.0, 0.5, 1.5])
def test_auc_and_tpr_match_gaussian_closed_form(mu: float) -> None:
    scores, labels = _gaussian_scores(mu, 20_000, seed=1)
    assert auc_score(scores, labels) == pytest.approx(norm.cdf(mu / math.sqrt(2)), abs=0.01)
    for target in (0.01, 0.001):
        expected = norm.sf(norm.isf(target) - mu)
        assert tpr_at_fpr(scores, labels, target) == pytest.approx(expected, abs=0.03)


def test_bootstrap_interval_covers_truth_and_chance_when_no_signal() -> None:
    scores, labels = _gaussian_scores(0.3, 1000, seed=2)
    low, high = bootstrap_auc_ci(scores, labels, n_boot=400, seed=0)
    assert low < norm.cdf(0.3 / math.sqrt(2)) < high
    assert low > 0.5
    scores, labels = _gaussian_scores(0.0, 1000, seed=3)
    low, high = bootstrap_auc_ci(scores, labels, n_boot=400, seed=0)
    assert low < 0.5 < high
    assert 0.02 < high - low < 0.1


def test_summary_reports_resolution_and_targets() -> None:
    scores, labels = _gaussian_scores(3.0, 500, seed=4)
    summary = summarize_scores(scores, labels, n_boot=200)
    assert summary.n_members == summary.n_nonmembers == 500
    assert summary.fpr_resolution == pytest.approx(1 / 500)
    assert set(summary.tpr_at_fpr) == {"0.01", "0.001"}
    assert summary.interval_excludes_chance


@pytest.mark.parametrize(
    ("scores", "labels"),
    [([0.1, 0.2], [1, 1]), ([0.1, float("nan")], [0, 1]), ([0.1], [0, 1]), ([1, 2], [0, 2])],
)
def test_malformed_inputs_are_named(scores: list[float], labels: list[int]) -> None:
    with pytest.raises(AuditInputError):
        auc_score(scores, labels)


def test_clopper_pearson_matches_known_values() -> None:
    assert clopper_pearson(0, 10) == pytest.approx((0.0, 0.30849), abs=1e-4)
    low, high = clopper_pearson(5, 10)
    assert (low, high) == pytest.approx((0.18709, 0.81291), abs=1e-4)


def _randomized_response(eps: float, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Each record's bit is reported truthfully with probability e^eps / (1 + e^eps): eps-DP."""
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2, n)
    truthful = rng.random(n) < math.exp(eps) / (1 + math.exp(eps))
    return np.where(truthful, bits, 1 - bits).astype(float), bits


@pytest.mark.parametrize("eps", [0.5, 1.0, 2.0])
@pytest.mark.parametrize("strategy", ["bonferroni", "split"])
def test_threshold_bound_on_randomized_response_is_below_and_close(
    eps: float, strategy: str
) -> None:
    scores, bits = _randomized_response(eps, 60_000, seed=int(eps * 10))
    result = threshold_epsilon_lower_bound(scores, bits, strategy=strategy)  # type: ignore[arg-type]
    assert result.epsilon_lower_bound <= eps
    assert result.epsilon_lower_bound >= eps - 0.12


def test_threshold_bound_never_overshoots_across_trials() -> None:
    """At 95% confidence, about 5% of honest trials may overshoot; with 40 we allow a few."""
    over = 0
    for seed in range(40):
        scores, bits = _randomized_response(1.0, 400, seed=100 + seed)
        over += threshold_epsilon_lower_bound(scores, bits).epsilon_lower_bound > 1.0
    assert over <= 4


def test_threshold_bound_is_zero_without_signal_and_respects_delta() -> None:
    rng = np.random.default_rng(5)
    scores, labels = rng.normal(size=2000), rng.integers(0, 2, 2000)
    assert threshold_epsilon_lower_bound(scores, labels).epsilon_lower_bound == 0.0
    scores, bits = _randomized_response(2.0, 20_000, seed=6)
    pure = threshold_epsilon_lower_bound(scores, bits).epsilon_lower_bound
    approx = threshold_epsilon_lower_bound(scores, bits, delta=0.05).epsilon_lower_bound
    assert approx < pure


@pytest.mark.parametrize("eps", [0.5, 1.0, 4.0])
def test_one_run_bound_on_randomized_response_canaries(eps: float) -> None:
    """Canaries answered by eps-DP randomized response: guessing on all of them is optimal."""
    m = 20_000
    guesses, truth = _randomized_response(eps, m, seed=7)
    v = int((guesses == truth).sum())
    bound = one_run_epsilon_lower_bound(m, m, v)
    assert bound <= eps
    assert bound >= eps - 0.15


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 400), st.data())
def test_one_run_bound_is_monotone_and_zero_at_chance(r: int, data: st.DataObject) -> None:
    v = data.draw(st.integers(0, r))
    bound = one_run_epsilon_lower_bound(r, r, v)
    if v <= r / 2:
        assert bound == 0.0
    if v < r:
        assert one_run_epsilon_lower_bound(r, r, v + 1) >= bound
    assert one_run_epsilon_lower_bound(4 * r, r, v, delta=1e-5) <= bound + 1e-9


def test_one_run_p_value_is_the_binomial_tail_without_delta() -> None:
    q = math.exp(1) / (1 + math.exp(1))
    direct = sum(math.comb(20, k) * q**k * (1 - q) ** (20 - k) for k in range(17, 21))
    assert one_run_p_value(100, 20, 17, 1.0) == pytest.approx(direct)
    assert one_run_p_value(100, 20, 17, 1.0, delta=1e-3) > direct
    with pytest.raises(AuditInputError):
        one_run_p_value(10, 20, 5, 1.0)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_pos=st.integers(1, 40), n_neg=st.integers(1, 40))
def test_bootstrap_rows_agree_with_scikit_learn(seed: int, n_pos: int, n_neg: int) -> None:
    from sklearn.metrics import roc_auc_score

    from prism_secure.audits.metrics.roc import _auc_rows

    rng = np.random.default_rng(seed)
    pos = rng.integers(0, 6, size=(5, n_pos)).astype(np.float64)  # many ties
    neg = rng.integers(0, 6, size=(5, n_neg)).astype(np.float64)
    labels = np.r_[np.ones(n_pos), np.zeros(n_neg)]
    expected = [roc_auc_score(labels, np.r_[p, q]) for p, q in zip(pos, neg, strict=True)]
    np.testing.assert_allclose(_auc_rows(pos, neg), expected, rtol=1e-12)
