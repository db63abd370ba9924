"""One-run canary audit (Steinke, Nasr, Jagielski 2023): a DP lower bound from a single training.

Each canary was inserted with probability 1/2. The auditor ranks canaries by an attack score,
guesses "in" for the top k+ and "out" for the bottom k-, abstains on the rest, and converts the
number of correct guesses into an epsilon lower bound. Trying several (attack, k) pairs costs a
Bonferroni share of the confidence each, so the reported bound stays a valid 95% bound.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike
from pydantic import BaseModel, ConfigDict, computed_field

from prism_secure.audits.errors import AuditInputError
from prism_secure.audits.metrics.epsilon_bounds import one_run_epsilon_lower_bound

DEFAULT_GUESS_FRACTIONS: tuple[float, ...] = (0.05, 0.1, 0.2, 0.5, 1.0)


class CanaryGuess(BaseModel):
    model_config = ConfigDict(extra="forbid")

    attack: str
    guesses: int
    correct: int
    epsilon_lower_bound: float


class CanaryAudit(BaseModel):
    """The one-run audit's verdict against the ledger's claim."""

    model_config = ConfigDict(extra="forbid")

    canaries: int
    inserted: int
    confidence: float
    delta: float
    claimed_epsilon: float | None
    epsilon_lower_bound: float
    best: CanaryGuess | None
    tried: list[CanaryGuess]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def violation(self) -> bool:
        """A claim the data refutes: the lower bound exceeds the claimed epsilon."""
        return self.claimed_epsilon is not None and self.epsilon_lower_bound > self.claimed_epsilon


def count_correct_guesses(scores: ArrayLike, inserted: ArrayLike, guesses: int) -> tuple[int, int]:
    """Guess "in" on the top guesses//2 scores and "out" on the bottom rest; return (r, v)."""
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    truth = np.asarray(inserted, dtype=bool).reshape(-1)
    if s.shape != truth.shape:
        raise AuditInputError(f"{s.size} canary scores for {truth.size} canaries")
    if not 0 <= guesses <= s.size:
        raise AuditInputError(f"guesses must lie in [0, {s.size}], got {guesses}")
    order = np.argsort(-s, kind="mergesort")
    k_in = guesses // 2
    k_out = guesses - k_in
    correct = int(truth[order[:k_in]].sum()) + int((~truth[order[s.size - k_out :]]).sum())
    return guesses, correct


def one_run_audit(
    scores_by_attack: Mapping[str, ArrayLike],
    inserted: ArrayLike,
    claimed_epsilon: float | None,
    delta: float = 0.0,
    alpha: float = 0.05,
    fractions: Sequence[float] = DEFAULT_GUESS_FRACTIONS,
) -> CanaryAudit:
    """Bound epsilon from canary scores; ``inserted[i]`` says whether canary i was trained on."""
    truth = np.asarray(inserted, dtype=bool).reshape(-1)
    m = int(truth.size)
    if m == 0 or not scores_by_attack:
        raise AuditInputError("the canary audit needs at least one canary and one attack")
    ks = sorted({max(2, min(m, round(f * m))) for f in fractions})
    alpha_each = alpha / (len(ks) * len(scores_by_attack))
    tried: list[CanaryGuess] = []
    for name, scores in scores_by_attack.items():
        for k in ks:
            r, v = count_correct_guesses(scores, truth, k)
            bound = one_run_epsilon_lower_bound(m, r, v, delta=delta, alpha=alpha_each)
            tried.append(CanaryGuess(attack=name, guesses=r, correct=v, epsilon_lower_bound=bound))
    best = max(tried, key=lambda g: g.epsilon_lower_bound)
    return CanaryAudit(
        canaries=m,
        inserted=int(truth.sum()),
        confidence=1 - alpha,
        delta=delta,
        claimed_epsilon=claimed_epsilon,
        epsilon_lower_bound=best.epsilon_lower_bound,
        best=best if best.epsilon_lower_bound > 0 else None,
        tried=tried,
    )
