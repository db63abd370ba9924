"""The audit core on arrays: power on a planted leak, silence on a private generator, verdicts."""

from __future__ import annotations

import numpy as np

from prism_secure.artifacts.schema import RoundTranscript
from prism_secure.audits.pipeline import AuditSettings, audit_arrays

SETTINGS = AuditSettings(n_boot=200, embed_dim=8, n_samples=10, n_candidates=10)


def _draw(rng: np.random.Generator, basis: np.ndarray, n: int) -> np.ndarray:
    z = rng.normal(size=(n, basis.shape[0])).astype(np.float32)
    return (z @ basis + 0.3 * rng.normal(size=(n, basis.shape[1]))).astype(np.float32)


def _world(seed: int = 0) -> tuple[np.random.Generator, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng, rng.normal(size=(8, 49)).astype(np.float32)


def test_planted_leak_is_reported_with_interval_above_chance() -> None:
    rng, basis = _world()
    members, nonmembers = _draw(rng, basis, 300), _draw(rng, basis, 300)
    copies = members[rng.integers(0, 300, 900)] + 0.2 * rng.normal(size=(900, 49))
    generated = np.concatenate([_draw(rng, basis, 2100), copies.astype(np.float32)])
    out = audit_arrays(
        members=members,
        nonmembers=nonmembers,
        population=_draw(rng, basis, 1000),
        generated=generated,
        settings=SETTINGS,
        claimed_epsilon=None,
        delta=None,
    )
    by_name = {a.name: a for a in out.report.attacks}
    assert by_name["nn-calibrated"].status.startswith("skipped")
    assert by_name["nn-pixel"].roc is not None and by_name["nn-pixel"].roc.auc_ci_low > 0.6
    assert by_name["nn-pixel"].epsilon is not None
    assert by_name["nn-pixel"].epsilon.epsilon_lower_bound > 0
    assert out.report.passed  # no claim, nothing to violate
    assert set(out.scores) == {"nn-pixel", "nn-feature", "monte-carlo", "density-ratio"}


def test_canaries_that_leak_beyond_the_claim_are_a_violation() -> None:
    rng, basis = _world(1)
    canaries = _draw(rng, basis, 200)
    inserted = rng.random(200) < 0.5
    generated = np.concatenate([_draw(rng, basis, 1000), np.repeat(canaries[inserted], 4, axis=0)])
    out = audit_arrays(
        members=_draw(rng, basis, 50),
        nonmembers=_draw(rng, basis, 50),
        population=_draw(rng, basis, 500),
        generated=generated,
        settings=SETTINGS.model_copy(update={"attacks": ["nn-pixel"]}),
        claimed_epsilon=1.0,
        delta=1e-5,
        canaries=canaries,
        canary_inserted=inserted,
    )
    assert out.report.canary is not None and out.report.canary.epsilon_lower_bound > 1.0
    assert not out.report.passed
    assert any("canary" in v and "FALSE" in v for v in out.report.violations)


def test_private_generator_and_honest_transcript_pass() -> None:
    rng, basis = _world(2)
    canaries = _draw(rng, basis, 100)
    x = (rng.random(5000) < 0.5).astype(np.uint8)
    masked = ((x + rng.integers(0, 8, 5000)) % 8).astype(np.uint8)
    out = audit_arrays(
        members=_draw(rng, basis, 200),
        nonmembers=_draw(rng, basis, 200),
        population=_draw(rng, basis, 500),
        generated=_draw(rng, basis, 2000),
        settings=SETTINGS.model_copy(update={"attacks": ["nn-pixel", "monte-carlo"]}),
        claimed_epsilon=1.0,
        delta=1e-5,
        canaries=canaries,
        canary_inserted=rng.random(100) < 0.5,
        transcripts=[RoundTranscript(0, 3, {"0": masked}, {"0": x})],
    )
    assert out.report.passed, out.report.violations
    assert out.report.secagg[0].audit.passed
    for a in out.report.attacks:
        assert a.roc is not None and a.roc.auc_ci_low < 0.5 < a.roc.auc_ci_high
