"""Mask expansion against published AES-CTR and ChaCha20 vectors, frozen vectors, and streams
started part-way."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from prism_secure.protocols.secagg.crypto.prg import BLOCK_BYTES, encryptor, expand, start_nonce

# NIST SP 800-38A, F.5.5 CTR-AES256.Encrypt, first block.
NIST_KEY = bytes.fromhex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4")
NIST_CTR = bytes.fromhex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff")
NIST_PT = bytes.fromhex("6bc1bee22e409f96e93d7e117393172a")
NIST_CT = bytes.fromhex("601ec313775789a5b7a7f504bbf3d228")


def test_aes_ctr_matches_nist_sp800_38a() -> None:
    stream = expand(NIST_KEY, 16, np.dtype(np.uint8), "aes-ctr", nonce=NIST_CTR).tobytes()
    assert bytes(a ^ b for a, b in zip(stream, NIST_PT, strict=True)) == NIST_CT


def test_chacha20_matches_rfc8439_block() -> None:
    """RFC 8439 section 2.3.2: key 00..1f, counter 1, nonce 000000090000004a00000000."""
    nonce = (1).to_bytes(4, "little") + bytes.fromhex("000000090000004a00000000")
    out = expand(bytes(range(32)), 32, np.dtype(np.uint8), "chacha20", nonce=nonce)
    assert out.tobytes().hex() == (
        "10f1e7e4d13b5915500fdd1fa32071c4c7d1f4c733c068030422aa9ac3d46c4e"
    )


@pytest.mark.parametrize(
    ("kind", "digest"),
    [
        ("aes-ctr", "AES"),
        ("chacha20", "CHACHA"),
    ],
)
def test_frozen_vectors(kind: str, digest: str) -> None:
    """Our expansion must never change silently: old transcripts would no longer unmask."""
    seed = bytes(range(32))
    out = expand(seed, 1000, np.dtype(np.uint16), kind)  # type: ignore[arg-type]
    assert out.dtype == np.uint16 and out.shape == (1000,)
    assert hashlib.sha256(out.astype("<u2").tobytes()).hexdigest()[:16] == FROZEN[digest]


FROZEN = {"AES": "0ca00b7dce429efc", "CHACHA": "4579727e816e7922"}


@pytest.mark.parametrize("kind", ["aes-ctr", "chacha20"])
@pytest.mark.parametrize("blocks", [0, 1, 7, 4096])
def test_a_stream_started_at_a_block_is_the_rest_of_the_whole_stream(
    kind: str, blocks: int
) -> None:
    """Pieces of one vector are expanded apart; they must join into exactly the one stream."""
    seed, size = bytes(range(32)), BLOCK_BYTES[kind]
    whole = encryptor(kind, seed).update(bytes((blocks + 3) * size))  # type: ignore[arg-type]
    nonce = start_nonce(kind, blocks * size)  # type: ignore[arg-type]
    rest = encryptor(kind, seed, nonce).update(bytes(3 * size))  # type: ignore[arg-type]
    assert rest == whole[blocks * size :]


@pytest.mark.parametrize("kind", ["aes-ctr", "chacha20"])
def test_a_start_inside_a_block_is_refused(kind: str) -> None:
    with pytest.raises(ValueError, match="block size"):
        start_nonce(kind, BLOCK_BYTES[kind] + 4)  # type: ignore[arg-type]
