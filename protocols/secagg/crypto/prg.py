"""Mask expansion: a 32-byte seed to a vector of unsigned integers with AES-256-CTR or ChaCha20.

Each seed keys exactly one stream (seeds are fresh per round or derived per pair and session),
so a zero counter block is safe. The expander reuses one output buffer: the keystream is written
straight into memory that numpy views as the vector, with no per-call allocation.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

PrgKind = Literal["aes-ctr", "chacha20"]
SEED_BYTES = 32


def _encryptor(kind: PrgKind, seed: bytes, nonce: bytes | None = None):  # noqa: ANN202
    if len(seed) != SEED_BYTES:
        raise ValueError(f"seed must be {SEED_BYTES} bytes")
    nonce = bytes(16) if nonce is None else nonce
    if kind == "aes-ctr":
        return Cipher(algorithms.AES(seed), modes.CTR(nonce)).encryptor()
    if kind == "chacha20":
        return Cipher(algorithms.ChaCha20(seed, nonce), mode=None).encryptor()
    raise ValueError(f"unknown PRG {kind!r}")


class Expander:
    """Expands seeds into ``count`` values of ``dtype``; the returned array is valid until the
    next call (copy it to keep it)."""

    def __init__(self, count: int, dtype: np.dtype, kind: PrgKind = "aes-ctr") -> None:
        self.count = count
        self.dtype = np.dtype(dtype)
        self.kind = kind
        self.nbytes = count * self.dtype.itemsize
        self._zeros = bytes(self.nbytes)
        self._out = bytearray(self.nbytes + 15)  # update_into wants block_size - 1 spare bytes
        self._view = np.frombuffer(self._out, dtype=self.dtype, count=count)

    def __call__(self, seed: bytes) -> np.ndarray:
        _encryptor(self.kind, seed).update_into(self._zeros, self._out)
        return self._view


def expand(
    seed: bytes, count: int, dtype: np.dtype, kind: PrgKind = "aes-ctr", nonce: bytes | None = None
) -> np.ndarray:
    """A fresh array of ``count`` pseudorandom values; ``nonce`` only for test vectors."""
    nbytes = count * np.dtype(dtype).itemsize
    stream = _encryptor(kind, seed, nonce).update(bytes(nbytes))
    return np.frombuffer(stream, dtype=np.dtype(dtype).newbyteorder("<")).astype(dtype)
