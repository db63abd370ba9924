"""Mask expansion: a 32-byte seed to a vector of unsigned integers with AES-256-CTR or ChaCha20.

Each seed keys exactly one stream (seeds are fresh per round or derived per pair and session),
so a zero counter block is safe. A stream can start at any cipher block (:func:`start_nonce`), so
pieces of one vector can be expanded apart (:mod:`prism_secure.protocols.secagg.bulk`).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

PrgKind = Literal["aes-ctr", "chacha20"]
SEED_BYTES = 32


# Both ciphers make keystream in whole blocks, so a stream can be cut at multiples of this.
BLOCK_BYTES = {"aes-ctr": 16, "chacha20": 64}


def start_nonce(kind: PrgKind, offset: int) -> bytes:
    """The IV whose keystream is the zero-IV keystream from byte ``offset`` (a block multiple).

    AES-CTR's IV is a 128-bit big-endian counter; OpenSSL's ChaCha20 IV is a 32-bit
    little-endian block counter, then the 96-bit nonce (zero here).
    """
    block, rest = divmod(offset, BLOCK_BYTES[kind])
    if rest or offset < 0:
        raise ValueError(f"offset {offset} is not a multiple of {kind}'s block size")
    if kind == "aes-ctr":
        return block.to_bytes(16, "big")
    return block.to_bytes(4, "little") + bytes(12)


def encryptor(kind: PrgKind, seed: bytes, nonce: bytes | None = None):  # noqa: ANN201
    """The seed's keystream as a cipher context: each ``update_into`` of zeros continues it."""
    if len(seed) != SEED_BYTES:
        raise ValueError(f"seed must be {SEED_BYTES} bytes")
    nonce = bytes(16) if nonce is None else nonce
    if kind == "aes-ctr":
        return Cipher(algorithms.AES(seed), modes.CTR(nonce)).encryptor()
    if kind == "chacha20":
        return Cipher(algorithms.ChaCha20(seed, nonce), mode=None).encryptor()
    raise ValueError(f"unknown PRG {kind!r}")


def expand(
    seed: bytes, count: int, dtype: np.dtype, kind: PrgKind = "aes-ctr", nonce: bytes | None = None
) -> np.ndarray:
    """A fresh array of ``count`` pseudorandom values; ``nonce`` only for test vectors."""
    nbytes = count * np.dtype(dtype).itemsize
    stream = encryptor(kind, seed, nonce).update(bytes(nbytes))
    return np.frombuffer(stream, dtype=np.dtype(dtype).newbyteorder("<")).astype(dtype)
