"""The server's view of each client: uniform and input-free when masking works, caught otherwise."""

from __future__ import annotations

import numpy as np
import pytest

from prism_secure.audits.errors import AuditInputError
from prism_secure.audits.secagg_view import audit_secagg_views

BITS, LENGTH, CLIENTS = 4, 20_000, 6


def _transcript(mask_fn, seed: int = 0) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Clients' 0/1 inputs and their views (input + mask_fn(rng)) mod 2^BITS."""
    rng = np.random.default_rng(seed)
    inputs, views = {}, {}
    for c in range(CLIENTS):
        x = (rng.random(LENGTH) < 0.3).astype(np.uint64)
        views[str(c)] = (x + mask_fn(rng).astype(np.uint64)) % 2**BITS
        inputs[str(c)] = x
    return views, inputs


def test_uniform_masks_pass() -> None:
    views, inputs = _transcript(lambda rng: rng.integers(0, 2**BITS, LENGTH))
    audit = audit_secagg_views(views, inputs, BITS)
    assert audit.passed, audit.failures
    assert all(abs(c.correlation) < 0.05 for c in audit.clients)


@pytest.mark.parametrize(
    ("name", "mask_fn", "test"),
    [
        ("no mask", lambda rng: np.zeros(LENGTH), "uniformity"),
        ("biased PRG", lambda rng: rng.integers(0, 2**BITS - 3, LENGTH), "uniformity"),
        ("low bit left clear", lambda rng: rng.integers(0, 2**BITS, LENGTH) & ~1, "independence"),
    ],
)
def test_broken_masks_are_caught(name: str, mask_fn, test: str) -> None:
    views, inputs = _transcript(mask_fn)
    audit = audit_secagg_views(views, inputs, BITS)
    assert not audit.passed, name
    assert any(test in f for f in audit.failures), audit.failures


def test_mismatched_transcripts_are_named() -> None:
    views, inputs = _transcript(lambda rng: rng.integers(0, 2**BITS, LENGTH))
    del inputs["0"]
    with pytest.raises(AuditInputError, match="differ"):
        audit_secagg_views(views, inputs, BITS)
    with pytest.raises(AuditInputError, match="outside"):
        audit_secagg_views({"0": np.array([99])}, {"0": np.array([1])}, BITS)


@pytest.mark.parametrize("graph", ["full", "sparse"])
def test_views_recorded_by_the_real_protocol_pass(graph: str) -> None:
    from prism_secure.protocols.secagg.driver import run_secure_sum

    rng = np.random.default_rng(1)
    inputs = {c: (rng.random(30_000) < 0.2).astype(np.uint8) for c in range(8)}
    result = run_secure_sum(
        inputs,
        threshold=5,
        graph=graph,  # type: ignore[arg-type]
        round_index=3,
        model_digest=bytes(32),
        record_transcript=True,
    )
    assert result.transcript is not None and result.secagg is not None
    bits = result.secagg.bits
    views = {str(c): v for c, v in result.transcript.items()}
    audit = audit_secagg_views(views, {str(c): v for c, v in inputs.items()}, bits)
    assert audit.passed, audit.failures
    assert len(audit.clients) == 8
    # The same views with the masks stripped off must fail: the audit has power on real traffic.
    assert not audit_secagg_views(
        {str(c): v for c, v in inputs.items()},
        {str(c): v for c, v in inputs.items()},
        result.secagg.bits,
    ).passed
