"""One-run canary audit on mechanisms whose epsilon is known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from prism_secure.audits.canary import count_correct_guesses, one_run_audit
from prism_secure.audits.errors import AuditInputError


def _canaries(m: int, seed: int) -> tuple[np.random.Generator, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng, rng.random(m) < 0.5


def test_guesses_count_top_as_in_and_bottom_as_out() -> None:
    scores = [0.9, 0.8, 0.1, 0.2, 0.5]
    inserted = [True, False, False, True, False]
    assert count_correct_guesses(scores, inserted, 2) == (2, 2)  # 0.9 in: yes; 0.1 out: yes
    assert count_correct_guesses(scores, inserted, 4) == (4, 2)  # +0.8 in: no; +0.2 out: no
    with pytest.raises(AuditInputError):
        count_correct_guesses(scores, inserted[:3], 2)


@pytest.mark.parametrize("eps", [1.0, 3.0])
def test_randomized_response_canaries_bound_at_most_eps(eps: float) -> None:
    rng, inserted = _canaries(5000, seed=int(eps))
    truthful = rng.random(inserted.size) < math.exp(eps) / (1 + math.exp(eps))
    scores = np.where(truthful, inserted, ~inserted) + 1e-3 * rng.random(inserted.size)
    audit = one_run_audit({"rr": scores}, inserted, claimed_epsilon=eps)
    assert 0.6 * eps < audit.epsilon_lower_bound <= eps
    assert not audit.violation


def test_leak_beyond_the_claim_is_a_violation() -> None:
    rng, inserted = _canaries(1000, seed=3)
    scores = inserted + 0.1 * rng.normal(size=inserted.size)  # the model reveals every canary
    audit = one_run_audit({"weak": rng.normal(size=1000), "strong": scores}, inserted, 1.0)
    assert audit.violation
    assert audit.best is not None and audit.best.attack == "strong"
    assert audit.model_dump()["violation"] is True
    assert not one_run_audit({"strong": scores}, inserted, claimed_epsilon=None).violation


def test_no_signal_gives_zero_bound() -> None:
    rng, inserted = _canaries(1000, seed=4)
    audit = one_run_audit({"noise": rng.normal(size=1000)}, inserted, claimed_epsilon=1.0)
    assert audit.epsilon_lower_bound == 0.0 and audit.best is None
    assert len(audit.tried) == 5
