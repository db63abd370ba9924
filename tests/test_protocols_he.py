"""The homomorphic secure sum with real TenSEAL BFV: exactness, refusals, bytes, and the adapter."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("tenseal")

import tenseal as ts  # noqa: E402

from prism_secure.config import RunConfig, SecureAggConfig  # noqa: E402
from prism_secure.federation.summers.base import SumOutcome  # noqa: E402
from prism_secure.federation.summers.factory import build_summer  # noqa: E402
from prism_secure.protocols.driver import SecureSumResult  # noqa: E402
from prism_secure.protocols.errors import (  # noqa: E402
    AbortedError,
    MessageError,
    ReplayError,
    SecAggError,
)
from prism_secure.protocols.he import (  # noqa: E402
    _HEADER,
    HEClient,
    HEDecryptionError,
    HEInputError,
    HEParameterError,
    HEParams,
    HEServer,
    KeyBundle,
    NoiseBudgetError,
    PlainModulusTooSmallError,
    generate_keys,
    run_he_sum,
)

DIGEST = os.urandom(32)
N = 8192


def plain_sum(inputs: dict[int, np.ndarray], ids: list[int]) -> np.ndarray:
    return sum(inputs[c].astype(np.int64) for c in ids)


@settings(max_examples=12)
@given(
    n=st.integers(2, 6),
    d=st.integers(1, 300),
    seed=st.integers(0, 2**32 - 1),
    drop=st.sampled_from([None, "masked", "unmask", "upload", "decrypt"]),
)
def test_exact_sum_of_random_bits(n: int, d: int, seed: int, drop: str | None) -> None:
    rng = np.random.default_rng(seed)
    inputs = {c * 3 + 1: rng.integers(0, 2, d, dtype=np.uint8) for c in range(n)}
    ids = sorted(inputs)
    dropouts = {ids[-1]: drop} if drop is not None and n > 2 else None
    res = run_he_sum(inputs, round_index=seed % 7, model_digest=DIGEST, dropouts=dropouts)
    assert isinstance(res, SecureSumResult)
    kept = ids[:-1] if dropouts and drop in ("masked", "upload") else ids  # after upload: counted
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
    assert res.ciphertexts_per_client == 3
    np.testing.assert_array_equal(res.total, plain_sum(inputs, [0, 1, 2]))


def test_server_context_cannot_decrypt_or_encrypt() -> None:
    params = HEParams(length=10, clients=2)
    keys = generate_keys(params, [0, 1])
    server_ctx = ts.context_from(KeyBundle.from_bytes(keys.server_bundle).context)
    assert server_ctx.is_private() is False
    assert server_ctx.is_public()
    with pytest.raises(ValueError):
        ts.bfv_vector(server_ctx, [1, 2, 3])  # no public key either
    client = HEClient(
        0, np.ones(10, np.uint8), params, keys.client_bundles[0], round_index=0, model_digest=DIGEST
    )
    frame = client.upload()
    server = HEServer(
        params,
        keys.server_bundle,
        round_index=0,
        model_digest=DIGEST,
        clients=[0, 1],
        min_survivors=1,
    )
    server.receive(0, frame)
    with pytest.raises(ValueError, match="secret"):
        server.acc[0].decrypt()
    # and the server refuses a context that carries the secret key
    with pytest.raises(HEParameterError, match="secret"):
        HEServer(params, keys.client_bundles[0], round_index=0, model_digest=DIGEST, clients=[0, 1])


def test_key_holders_subset_and_no_holder_left() -> None:
    inputs = {c: np.ones(5, np.uint8) for c in range(4)}
    res = run_he_sum(
        inputs, round_index=0, model_digest=DIGEST, key_holders=2, dropouts={0: "decrypt"}
    )
    assert res.key_holders == [0, 1] and res.decryptor == 1
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
            inputs, round_index=0, model_digest=DIGEST, key_holders=1, dropouts={0: "unmask"}
        )


def test_too_few_uploads_abort() -> None:
    inputs = {c: np.ones(5, np.uint8) for c in range(3)}
    with pytest.raises(AbortedError):
        run_he_sum(
            inputs,
            round_index=0,
            model_digest=DIGEST,
            min_survivors=2,
            dropouts={1: "masked", 2: "advertise"},
        )


def test_plain_modulus_too_small_refused() -> None:
    inputs = {c: np.ones(4, np.uint8) for c in range(3)}
    with pytest.raises(PlainModulusTooSmallError, match="largest possible sum"):
        run_he_sum(inputs, round_index=0, model_digest=DIGEST, max_value=30000)  # 90000 > t
    with pytest.raises(PlainModulusTooSmallError):
        HEParams(length=4, clients=65537)  # 0/1 inputs, but one client too many for t = 65537
    with pytest.raises(HEParameterError, match="prime"):
        HEParams(length=4, clients=2, plain_modulus=65536)
    with pytest.raises(HEParameterError, match="1 mod 2N"):
        HEParams(length=4, clients=2, plain_modulus=40961)  # prime, but 40961 != 1 mod 16384
    assert issubclass(PlainModulusTooSmallError, SecAggError)


def test_noise_budget_too_small_refused() -> None:
    # FACTS: N=4096, t=40961, coeff [30, 30] gave wrong sums; here it fails at 2^8 copies.
    params = HEParams(
        length=4,
        clients=200,
        poly_modulus_degree=4096,
        plain_modulus=40961,
        coeff_mod_bit_sizes=(30, 30),
    )
    with pytest.raises(NoiseBudgetError, match="noise"):
        generate_keys(params, list(range(200)))


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


@pytest.fixture(scope="module")
def session() -> tuple[HEParams, object, dict[int, bytes]]:
    d = N + 3  # two ciphertexts
    params = HEParams(length=d, clients=3)
    keys = generate_keys(params, [0, 1, 2])
    rng = np.random.default_rng(5)
    uploads = {
        c: HEClient(
            c,
            rng.integers(0, 2, d, dtype=np.uint8),
            params,
            keys.client_bundles[c],
            round_index=2,
            model_digest=DIGEST,
        ).upload()
        for c in range(3)
    }
    return params, keys, uploads


def fresh_server(params: HEParams, keys, **kw) -> HEServer:
    kw = {"round_index": 2, "model_digest": DIGEST, **kw}
    return HEServer(params, keys.server_bundle, clients=[0, 1, 2], **kw)


def test_tampered_and_truncated_uploads_rejected(session) -> None:
    params, keys, uploads = session
    good = uploads[0]
    rng = np.random.default_rng(0)
    bad = [good[:-1], good[: len(good) // 2], good[:10], b"", good + b"x", b"\x00" * len(good)]
    for _ in range(20):  # single bit flips anywhere: TenSEAL alone accepts most of them
        i = int(rng.integers(len(good)))
        flipped = bytearray(good)
        flipped[i] ^= 1 << int(rng.integers(8))
        bad.append(bytes(flipped))
    server = fresh_server(params, keys)
    for data in bad:
        with pytest.raises(MessageError):
            server.receive(0, data)
    assert server.survivors == []  # state unchanged
    server.receive(0, good)
    with pytest.raises(ReplayError):
        server.receive(0, good)
    with pytest.raises(MessageError, match="cohort"):
        server.receive(9, uploads[1])


def test_malformed_ciphertext_with_valid_frame_rejected(session) -> None:
    """A sender who rebuilds the checksum still cannot slip in bytes TenSEAL does not parse."""
    from prism_secure.protocols.he import KIND_UPLOAD, decode_frame, encode_frame

    params, keys, uploads = session
    server = fresh_server(params, keys)
    frame = decode_frame(uploads[0], kind=KIND_UPLOAD)
    for parts in (
        [frame.parts[0][:-100], frame.parts[1]],  # truncated ciphertext
        [b"", frame.parts[1]],  # TenSEAL loads b"" as an empty vector: caught by the slot count
        [b"\x00" * 50, frame.parts[1]],
        [frame.parts[0]],  # one chunk missing
        [frame.parts[1], frame.parts[0]],  # swapped chunks: wrong slot counts
    ):
        data = encode_frame(KIND_UPLOAD, frame.session, frame.length, 1, parts)
        with pytest.raises(MessageError):
            server.receive(0, data)
    # another round's (or model's) frame is refused by the session id
    other = fresh_server(params, keys, round_index=3)
    with pytest.raises(MessageError, match="session"):
        other.receive(0, uploads[0])
    assert server.survivors == [] and other.survivors == []


def test_tampered_aggregate_and_result_rejected(session) -> None:
    params, keys, uploads = session
    server = fresh_server(params, keys)
    for c in range(3):
        server.receive(c, uploads[c])
    aggregate = server.aggregate()
    holder = HEClient(
        1,
        np.zeros(params.length, np.uint8),
        params,
        keys.client_bundles[1],
        round_index=2,
        model_digest=DIGEST,
    )
    flipped = bytearray(aggregate)
    flipped[len(flipped) // 2] ^= 4
    with pytest.raises(MessageError):
        holder.decrypt(bytes(flipped))
    result = holder.decrypt(aggregate)
    with pytest.raises(MessageError):
        server.receive_result(result[:-3])
    total = server.receive_result(result)
    assert total.shape == (params.length,) and total.max() <= 3
    # ciphertexts under another key set decrypt to garbage: the range check catches it
    from prism_secure.protocols.he import KIND_AGGREGATE, decode_frame, encode_frame

    other = generate_keys(params, [0, 1, 2])
    stranger = HEClient(
        1,
        np.zeros(params.length, np.uint8),
        params,
        other.client_bundles[1],
        round_index=2,
        model_digest=DIGEST,
    )
    frame = decode_frame(aggregate, kind=KIND_AGGREGATE)
    forged = encode_frame(KIND_AGGREGATE, stranger.session, frame.length, 3, frame.parts)
    with pytest.raises(HEDecryptionError, match="exceed"):
        stranger.decrypt(forged)


def test_byte_counts_equal_serialized_sizes() -> None:
    d = N + 100
    rng = np.random.default_rng(2)
    inputs = {c: rng.integers(0, 2, d, dtype=np.uint8) for c in range(4)}
    params = HEParams(length=d, clients=4)
    keys = generate_keys(params, [0, 1, 2, 3])
    res = run_he_sum(inputs, round_index=0, model_digest=DIGEST, keys=keys, dropouts={3: "masked"})
    np.testing.assert_array_equal(res.total, plain_sum(inputs, [0, 1, 2]))
    bundles = {c: len(keys.client_bundles[c]) for c in range(4)}
    # the key generator (0) is also the decryptor; others upload one frame, download their bundle
    assert res.key_generator == 0 and res.decryptor == 0
    assert res.bytes_up_per_client[0] == (
        bundles[1]
        + bundles[2]
        + bundles[3]
        + len(keys.server_bundle)
        + res.upload_bytes[0]
        + res.result_bytes
    )
    assert res.bytes_down_per_client[0] == res.aggregate_bytes
    for c in (1, 2):
        assert res.bytes_up_per_client[c] == res.upload_bytes[c]
        assert res.bytes_down_per_client[c] == bundles[c]
    assert res.bytes_up_per_client[3] == 0 and 3 not in res.upload_bytes
    # the result frame: header, one length prefix, d counts of 1 byte (max sum 4), checksum
    assert res.result_bytes == _HEADER.size + 4 + d + 32
    # an upload frame is exactly TenSEAL's serialized ciphertexts plus 4 bytes each and framing
    client = HEClient(
        1, inputs[1], params, keys.client_bundles[1], round_index=0, model_digest=DIGEST
    )
    frame = client.upload()
    from prism_secure.protocols.he import KIND_UPLOAD, decode_frame

    parts = decode_frame(frame, kind=KIND_UPLOAD).parts
    assert len(parts) == 2
    for part in parts:
        assert len(ts.bfv_vector_from(client.ctx, part).serialize()) == len(part)
    assert len(frame) == _HEADER.size + sum(4 + len(p) for p in parts) + 32
    # ~92 KB per full ciphertext at N=8192, coeff [40, 40] (FACTS.md)
    assert 80_000 < len(parts[0]) < 110_000
    assert abs(res.upload_bytes[1] - len(frame)) < 2_000  # compressed sizes vary a little
    # key bundle = TenSEAL's serialized context plus framing, secret for holders
    ctx_bytes = KeyBundle.from_bytes(keys.client_bundles[1]).context
    assert bundles[1] == _HEADER.size + 4 + len(ctx_bytes) + 32
    assert ts.context_from(ctx_bytes).is_private()


def test_homomorphic_sum_through_build_summer() -> None:
    summer = build_summer(RunConfig(secure_agg=SecureAggConfig(mode="he")))
    assert summer.name == "he"
    rng = np.random.default_rng(3)
    inputs = {c: rng.integers(0, 2, 1000, dtype=np.uint8) for c in range(5)}
    digest = hashlib.sha256(b"model").digest()
    out = summer.sum(
        inputs,
        round_index=1,
        model_digest=digest,
        dropouts={1: "masked", 2: "consistency", 3: "advertise"},
    )
    assert isinstance(out, SumOutcome)
    assert out.survivors == [0, 2, 4]  # 2 dropped after its upload: counted
    np.testing.assert_array_equal(out.counts, plain_sum(inputs, [0, 2, 4]))
    assert out.bytes_up[1] == 0 and out.bytes_up[2] > 1000
    # SecureAggConfig.threshold 0.5 of 5 -> at least 3 uploads, as for SecAgg
    with pytest.raises(AbortedError):
        summer.sum(
            inputs,
            round_index=1,
            model_digest=digest,
            dropouts={0: "masked", 1: "masked", 2: "share"},
        )
    out = summer.sum(inputs, round_index=2, model_digest=digest, dropouts={})
    np.testing.assert_array_equal(out.counts, plain_sum(inputs, list(range(5))))


def test_he_module_does_not_import_torch() -> None:
    import subprocess
    import sys

    code = "import sys, prism_secure.protocols.he; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
