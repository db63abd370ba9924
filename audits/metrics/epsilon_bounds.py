"""Empirical lower bounds on epsilon: from one attack threshold, and from a one-run canary audit.

Both are hypothesis tests: "the mechanism is (eps, delta)-DP" is rejected at level ``alpha`` for
every eps below the returned bound. A bound above the claimed epsilon therefore proves a bug
(with probability at least 1 - alpha), which is why they must never overshoot.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pydantic import BaseModel, ConfigDict
from scipy.special import expit
from scipy.stats import beta as beta_dist
from scipy.stats import binom

from prism_secure.audits.errors import AuditInputError
from prism_secure.audits.metrics._checks import scores_and_labels

ThresholdStrategy = Literal["bonferroni", "split"]


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact two-sided binomial interval for a rate of ``k`` successes out of ``n``."""
    if n < 1 or not 0 <= k <= n:
        raise AuditInputError(f"need 0 <= k <= n and n >= 1, got k={k}, n={n}")
    if not 0 < level < 1:
        raise AuditInputError(f"level must lie in (0, 1), got {level}")
    tail = (1 - level) / 2
    low = 0.0 if k == 0 else float(beta_dist.ppf(tail, k, n - k + 1))
    high = 1.0 if k == n else float(beta_dist.ppf(1 - tail, k + 1, n - k))
    return low, high


def _cp_upper(k: NDArray[np.int64], n: int, alpha: float) -> NDArray[np.float64]:
    """One-sided Clopper-Pearson upper bounds at confidence 1 - alpha, vectorised over ``k``."""
    out = np.ones(k.shape, dtype=np.float64)
    below = k < n
    out[below] = beta_dist.ppf(1 - alpha, k[below] + 1, n - k[below])
    return out


class ThresholdEpsilon(BaseModel):
    """The best threshold's epsilon lower bound and the error rates behind it."""

    model_config = ConfigDict(extra="forbid")

    epsilon_lower_bound: float
    confidence: float
    delta: float
    threshold: float | None
    fpr: float | None
    fnr: float | None
    fpr_upper: float | None
    fnr_upper: float | None
    n_thresholds: int
    strategy: ThresholdStrategy


def _eps_from_rates(
    fpr_hi: NDArray[np.float64], fnr_hi: NDArray[np.float64], delta: float
) -> NDArray[np.float64]:
    """eps >= log((1 - delta - FNR) / FPR), and the same with the roles of the errors swapped."""
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.log(np.clip(1 - delta - fnr_hi, 0, None) / fpr_hi)
        b = np.log(np.clip(1 - delta - fpr_hi, 0, None) / fnr_hi)
    eps = np.fmax(np.nan_to_num(a, nan=0.0, neginf=0.0), np.nan_to_num(b, nan=0.0, neginf=0.0))
    return np.clip(eps, 0, None)


def _bound_at(
    s: NDArray[np.float64],
    y: NDArray[np.bool_],
    thresholds: NDArray[np.float64],
    delta: float,
    alpha_each: float,
) -> tuple[NDArray[np.float64], ...]:
    pos, neg = np.sort(s[y]), np.sort(s[~y])
    fp = neg.size - np.searchsorted(neg, thresholds, side="left")
    fn = np.searchsorted(pos, thresholds, side="left")
    fpr_hi = _cp_upper(fp, neg.size, alpha_each / 2)
    fnr_hi = _cp_upper(fn, pos.size, alpha_each / 2)
    eps = _eps_from_rates(fpr_hi, fnr_hi, delta)
    return eps, fp / neg.size, fn / pos.size, fpr_hi, fnr_hi


def threshold_epsilon_lower_bound(
    scores: ArrayLike,
    labels: ArrayLike,
    delta: float = 0.0,
    alpha: float = 0.05,
    max_thresholds: int = 64,
    strategy: ThresholdStrategy = "bonferroni",
    seed: int | None = 0,
) -> ThresholdEpsilon:
    """Epsilon lower bound of the best "score >= t means member" test, at confidence 1 - alpha.

    Picking the best of many thresholds on the same data would overstate the bound, so either
    every candidate threshold (score quantiles, at most ``max_thresholds``) pays a Bonferroni
    share of ``alpha``, or ("split") half the records choose the threshold and the other half
    bound it. FPR and FNR each get an upper Clopper-Pearson bound at half the level.
    """
    if not 0 <= delta < 1:
        raise AuditInputError(f"delta must lie in [0, 1), got {delta}")
    if not 0 < alpha < 1:
        raise AuditInputError(f"alpha must lie in (0, 1), got {alpha}")
    s, y = scores_and_labels(scores, labels)
    if strategy == "split":
        rng = np.random.default_rng(seed)
        pick = np.zeros(s.size, dtype=bool)
        for cls in (True, False):
            idx = np.flatnonzero(y == cls)
            if idx.size < 2:
                raise AuditInputError("the split strategy needs two records of each class")
            pick[rng.permutation(idx)[: idx.size // 2]] = True
        grid = np.unique(s[pick])
        eps_sel, *_ = _bound_at(s[pick], y[pick], grid, delta, alpha)
        chosen = np.array([grid[int(np.argmax(eps_sel))]])
        s_eval, y_eval = s[~pick], y[~pick]
        eps, fpr, fnr, fpr_hi, fnr_hi = _bound_at(s_eval, y_eval, chosen, delta, alpha)
        n_thr = 1
    elif strategy == "bonferroni":
        qs = np.linspace(0, 1, max(2, max_thresholds))
        chosen = np.unique(np.quantile(s, qs, method="inverted_cdf"))
        eps, fpr, fnr, fpr_hi, fnr_hi = _bound_at(s, y, chosen, delta, alpha / chosen.size)
        n_thr = int(chosen.size)
    else:
        raise AuditInputError(f"unknown strategy {strategy!r}; use 'bonferroni' or 'split'")
    best = int(np.argmax(eps))
    found = bool(eps[best] > 0)
    return ThresholdEpsilon(
        epsilon_lower_bound=float(eps[best]),
        confidence=1 - alpha,
        delta=delta,
        threshold=float(chosen[best]) if found else None,
        fpr=float(fpr[best]) if found else None,
        fnr=float(fnr[best]) if found else None,
        fpr_upper=float(fpr_hi[best]) if found else None,
        fnr_upper=float(fnr_hi[best]) if found else None,
        n_thresholds=n_thr,
        strategy=strategy,
    )


def one_run_p_value(m: int, r: int, v: int, epsilon: float, delta: float = 0.0) -> float:
    """P[at least v of r guesses correct] under (epsilon, delta)-DP, one-run audit (SNJ 2023).

    m canaries, each included with probability 1/2; the auditor guesses on r of them and
    abstains on the rest. Under pure DP the count of correct guesses is dominated by
    Binomial(r, e^eps / (1 + e^eps)); delta adds the paper's term 2 m delta max_i P[v-i <= B < v]/i.
    """
    if not 0 <= v <= r <= m:
        raise AuditInputError(f"need 0 <= v <= r <= m, got m={m}, r={r}, v={v}")
    if epsilon < 0 or not 0 <= delta <= 1:
        raise AuditInputError(f"need epsilon >= 0 and delta in [0, 1], got {epsilon}, {delta}")
    if r == 0:
        return 1.0
    q = float(expit(epsilon))
    tail = float(binom.sf(v - 1, r, q))
    if delta == 0 or v == 0:
        return min(1.0, tail)
    below = binom.pmf(np.arange(v - 1, -1, -1), r, q)  # P[B = v-1], P[B = v-2], ..., P[B = 0]
    slack = float(np.max(np.cumsum(below) / np.arange(1, v + 1)))
    return min(1.0, tail + 2 * m * delta * slack)


def one_run_epsilon_lower_bound(
    m: int, r: int, v: int, delta: float = 0.0, alpha: float = 0.05, eps_max: float = 100.0
) -> float:
    """Largest epsilon whose one-run p-value for (m, r, v) is still at most ``alpha``.

    Every (eps, delta)-DP claim with eps below the returned value is rejected at level alpha;
    0 when even eps = 0 cannot be rejected.
    """
    if not 0 < alpha < 1:
        raise AuditInputError(f"alpha must lie in (0, 1), got {alpha}")
    if one_run_p_value(m, r, v, 0.0, delta) > alpha:
        return 0.0
    if one_run_p_value(m, r, v, eps_max, delta) <= alpha:
        return eps_max
    low, high = 0.0, eps_max
    while high - low > 1e-6 * max(1.0, low):
        mid = (low + high) / 2
        if one_run_p_value(m, r, v, mid, delta) <= alpha:
            low = mid
        else:
            high = mid
    return low if math.isfinite(low) else 0.0
