"""The in-process HE round: exact sums, dropouts at its own phases, key holders, bytes."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("tenseal")

import tenseal as ts  # noqa: E402

from prism_secure.protocols.errors import AbortedError  # noqa: E402
from prism_secure.protocols.he import (  # noqa: E402
    HEClient,
    HEDecryptionError,
    HEInputError,
    HEParams,
    KeyBundle,
    generate_keys,
    phase_names,
    run_he_sum,
)
from prism_secure.protocols.he.frames import HEADER, KIND_UPLOAD, decode_frame  # noqa: E402
from prism_secure.protocols.result import SecureSumResult  # noqa: E402

DIGEST = os.urandom(32)
N = 8192


def plain_sum(inputs: dict[int, np.ndarray], ids: list[int]) -> np.ndarray:
    return sum(inputs[c].astype(np.int64) for c in ids)


@settings(max_examples=12)
@given(
    n=st.integers(2, 6),
    d=st.integers(1, 300),
    seed=st.integers(0, 2**32 - 1),
    drop=st.sampled_from([None, "upload", "decrypt"]),
)
def test_exact_sum_of_random_bits(n: int, d: int, seed: int, drop: str | None) -> None:
    rng = np.random.default_rng(seed)
    inputs = {c * 3 + 1: rng.integers(0, 2, d, dtype=np.uint8) for c in range(n)}
    ids = sorted(inputs)
    dropouts = {ids[-1]: drop} if drop is not None and n > 2 else None
    res = run_he_sum(inputs, round_index=seed % 7, model_digest=DIGEST, dropouts=dropouts)
    assert isinstance(res, SecureSumResult) and res.he is not None and res.secagg is None
    kept = ids[:-1] if dropouts and drop == "upload" else ids  # after upload: counted
    assert res.survivors == kept
    assert res.total.dtype == np.int64
    np.testing.assert_array_equal(res.total, plain_sum(inputs, kept))


def test_vector_longer_than_one_ciphertext_and_larger_values() -> None:
    d = 2 * N + 5
    rng = np.random.default_rng(1)
    inputs = {c: rng.integers(0, 1001, d, dtype=np.int64) for c in range(3)}
    inputs[0][:10] = 1000  # the top of the declared range, in the first and in the last chunk
    inputs[1][-10:] = 1000
    res = run_he_sum(inputs, round_index=0, model_digest=DIGEST, max_value=1000)
    assert res.he is not None and res.he.ciphertexts_per_client == 3
    np.testing.assert_array_equal(res.total, plain_sum(inputs, [0, 1, 2]))


def test_key_holders_subset_and_no_holder_left() -> None:
    inputs = {c: np.ones(5, np.uint8) for c in range(4)}
    res = run_he_sum(
        inputs, round_index=0, model_digest=DIGEST, key_holders=2, dropouts={0: "decrypt"}
    )
    assert res.he is not None
    assert res.he.key_holders == [0, 1] and res.he.decryptor == 1
    assert (res.total == 4).all()  # client 0 dropped after its upload: still counted
    params = HEParams(length=5, clients=4)
    keys = generate_keys(params, [0, 1, 2, 3], holders=[0])
    public_client = HEClient(
        3, inputs[3], params, keys.client_bundles[3], round_index=0, model_digest=DIGEST
    )
    assert not public_client.is_key_holder
    with pytest.raises(HEDecryptionError):
        public_client.decrypt(b"")
    with pytest.raises(AbortedError, match="key holder"):
        run_he_sum(
            inputs, round_index=0, model_digest=DIGEST, key_holders=1, dropouts={0: "decrypt"}
        )


def test_too_few_uploads_abort() -> None:
    inputs = {c: np.ones(5, np.uint8) for c in range(3)}
    with pytest.raises(AbortedError):
        run_he_sum(
            inputs,
            round_index=0,
            model_digest=DIGEST,
            min_survivors=2,
            dropouts={1: "upload", 2: "upload"},
        )


def test_inputs_refused() -> None:
    with pytest.raises(HEInputError, match="outside"):
        run_he_sum({0: np.array([0, 2]), 1: np.array([1, 1])}, round_index=0, model_digest=DIGEST)
    with pytest.raises(HEInputError, match="dtype"):
        run_he_sum(
            {0: np.array([0.0, 1.0]), 1: np.array([1.0, 1.0])}, round_index=0, model_digest=DIGEST
        )
    with pytest.raises(HEInputError, match="equal lengths"):
        run_he_sum(
            {0: np.ones(2, np.uint8), 1: np.ones(3, np.uint8)}, round_index=0, model_digest=DIGEST
        )
    with pytest.raises(ValueError, match="phase"):
        run_he_sum(
            {0: np.ones(2, np.uint8), 1: np.ones(2, np.uint8)},
            round_index=0,
            model_digest=DIGEST,
            dropouts={0: "lunch"},
        )


def test_byte_counts_equal_serialized_sizes() -> None:
    d = N + 100
    rng = np.random.default_rng(2)
    inputs = {c: rng.integers(0, 2, d, dtype=np.uint8) for c in range(4)}
    params = HEParams(length=d, clients=4)
    keys = generate_keys(params, [0, 1, 2, 3])
    res = run_he_sum(inputs, round_index=0, model_digest=DIGEST, keys=keys, dropouts={3: "upload"})
    np.testing.assert_array_equal(res.total, plain_sum(inputs, [0, 1, 2]))
    bundles = {c: len(keys.client_bundles[c]) for c in range(4)}
    he = res.he
    assert he is not None
    # the key generator (0) is also the decryptor; others upload one frame, download their bundle
    assert he.key_generator == 0 and he.decryptor == 0
    assert res.bytes_up_per_client[0] == (
        bundles[1]
        + bundles[2]
        + bundles[3]
        + len(keys.server_bundle)
        + he.upload_bytes[0]
        + he.result_bytes
    )
    assert res.bytes_down_per_client[0] == he.aggregate_bytes
    for c in (1, 2):
        assert res.bytes_up_per_client[c] == he.upload_bytes[c]
        assert res.bytes_down_per_client[c] == bundles[c]
    assert res.bytes_up_per_client[3] == 0 and 3 not in he.upload_bytes
    # the result frame: header, one length prefix, d counts of 1 byte (max sum 4), checksum
    assert he.result_bytes == HEADER.size + 4 + d + 32
    # an upload frame is exactly TenSEAL's serialized ciphertexts plus 4 bytes each and framing
    client = HEClient(
        1, inputs[1], params, keys.client_bundles[1], round_index=0, model_digest=DIGEST
    )
    frame = client.upload()
    parts = decode_frame(frame, kind=KIND_UPLOAD).parts
    assert len(parts) == 2
    for part in parts:
        assert len(ts.bfv_vector_from(client.ctx, part).serialize()) == len(part)
    assert len(frame) == HEADER.size + sum(4 + len(p) for p in parts) + 32
    # ~92 KB per full ciphertext at N=8192, coeff [40, 40] (FACTS.md)
    assert 80_000 < len(parts[0]) < 110_000
    assert abs(he.upload_bytes[1] - len(frame)) < 2_000  # compressed sizes vary a little
    # key bundle = TenSEAL's serialized context plus framing, secret for holders
    ctx_bytes = KeyBundle.from_bytes(keys.client_bundles[1]).context
    assert bundles[1] == HEADER.size + 4 + len(ctx_bytes) + 32
    assert ts.context_from(ctx_bytes).is_private()


def test_dropout_phases_are_this_paths_own() -> None:
    """The HE path names its own phases; SecAgg's are refused, not translated."""
    assert phase_names() == ["upload", "decrypt"]
    inputs = {c: np.ones(3, np.uint8) for c in range(3)}
    for secagg_phase in ("advertise", "masked", "unmask"):
        with pytest.raises(ValueError, match="phase"):
            run_he_sum(inputs, round_index=0, model_digest=DIGEST, dropouts={0: secagg_phase})
