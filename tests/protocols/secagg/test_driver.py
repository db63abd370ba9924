"""The driver's contract with the training engine, and its byte counting."""

from __future__ import annotations

import os

import numpy as np
import pytest

from prism_secure.protocols.errors import AbortedError, VectorLengthError
from prism_secure.protocols.result import SecureSumResult
from prism_secure.protocols.secagg.driver import phase_names, run_secure_sum

DIGEST = os.urandom(32)


def test_phase_names() -> None:
    assert phase_names() == ["advertise", "share", "masked", "consistency", "unmask"]


def test_contract_fields_and_byte_counts() -> None:
    n, d = 10, 20_000
    rng = np.random.default_rng(0)
    inputs = {c + 100: rng.integers(0, 2, d, dtype=np.uint8) for c in range(n)}
    res = run_secure_sum(
        inputs, threshold=6, round_index=4, model_digest=DIGEST, dropouts={101: "masked"}
    )
    assert isinstance(res, SecureSumResult)
    assert res.survivors == [c for c in sorted(inputs) if c != 101]
    assert res.total.dtype == np.int64
    np.testing.assert_array_equal(res.total, sum(inputs[c].astype(np.int64) for c in res.survivors))
    assert res.secagg is not None and res.secagg.bits == 4 and res.transcript is None
    assert res.he is None
    assert set(res.bytes_up_per_client) == set(inputs)
    packed = d * 4 // 8
    for c in res.survivors:
        # upload: the packed vector plus key material and shares, and nothing else big
        assert packed < res.bytes_up_per_client[c] < packed + 5_000
    assert res.bytes_up_per_client[101] < 3_000  # it never sent its vector
    assert res.client_seconds > 0 and res.server_seconds > 0
    # masking is the keystream-bound part of one phase: positive, and less than the whole
    assert 0 < res.client_protect_seconds < res.client_seconds


def test_bits_validation() -> None:
    inputs = {c: np.full(8, 3, np.uint8) for c in range(3)}
    with pytest.raises(ValueError, match="0/1"):
        run_secure_sum(inputs, threshold=2, round_index=0, model_digest=DIGEST)
    res = run_secure_sum(inputs, bits=5, threshold=2, round_index=0, model_digest=DIGEST)
    assert (res.total == 9).all()
    with pytest.raises(VectorLengthError):
        run_secure_sum(inputs, bits=1, threshold=2, round_index=0, model_digest=DIGEST)
    with pytest.raises(ValueError, match="equal lengths"):
        run_secure_sum(
            {0: np.zeros(3, np.uint8), 1: np.zeros(4, np.uint8)},
            threshold=2,
            round_index=0,
            model_digest=DIGEST,
        )
    with pytest.raises(ValueError, match="phase"):
        run_secure_sum(
            inputs, bits=5, threshold=2, round_index=0, model_digest=DIGEST, dropouts={0: "lunch"}
        )


def test_abort_releases_nothing() -> None:
    inputs = {c: np.ones(8, np.uint8) for c in range(4)}
    with pytest.raises(AbortedError) as info:
        run_secure_sum(
            inputs,
            threshold=3,
            round_index=0,
            model_digest=DIGEST,
            dropouts={0: "unmask", 1: "unmask"},
        )
    assert info.value.phase == "unmask"


def test_fresh_masks_every_round() -> None:
    inputs = {c: np.zeros(64, np.uint8) for c in range(3)}
    seen = [
        run_secure_sum(
            inputs, threshold=2, round_index=r, model_digest=DIGEST, record_transcript=True
        ).transcript[0]
        for r in (0, 0, 1)
    ]
    assert not np.array_equal(seen[0], seen[1]) and not np.array_equal(seen[1], seen[2])
