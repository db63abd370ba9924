"""The public parameters every party agrees on, and the session id that binds a frame to them.

:class:`HEParams` refuses parameters that could give a wrong sum: a plain modulus t that is not
a prime = 1 mod 2N (needed for batching), or a possible sum n * max_value >= t.
"""

from __future__ import annotations

import hashlib
import math
import struct
from dataclasses import dataclass

import numpy as np

from prism_secure.protocols.he.errors import HEParameterError, PlainModulusTooSmallError


def is_prime(n: int) -> bool:
    """Deterministic Miller-Rabin for n < 3.3e24 (covers every 64-bit plain modulus)."""
    if n < 2:
        return False
    small = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41)
    for p in small:
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for a in small:
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


@dataclass(frozen=True)
class HEParams:
    """Public parameters every party agrees on; construction refuses sums that could be wrong."""

    length: int
    clients: int
    max_value: int = 1
    poly_modulus_degree: int = 8192
    plain_modulus: int = 65537
    coeff_mod_bit_sizes: tuple[int, ...] = (40, 40)

    def __post_init__(self) -> None:
        n_deg, t = self.poly_modulus_degree, self.plain_modulus
        if self.length < 1 or self.clients < 1 or self.max_value < 0:
            raise HEParameterError(
                f"need length >= 1, clients >= 1, max_value >= 0; got {self.length}, "
                f"{self.clients}, {self.max_value}"
            )
        if n_deg < 1024 or n_deg > 32768 or n_deg & (n_deg - 1):
            raise HEParameterError(f"poly_modulus_degree must be 2^10..2^15, got {n_deg}")
        if not is_prime(t) or t % (2 * n_deg) != 1:
            raise HEParameterError(
                f"plain_modulus {t} must be a prime = 1 mod 2N = {2 * n_deg} (BFV batching)"
            )
        if self.max_sum >= t:
            raise PlainModulusTooSmallError(
                f"plain_modulus {t} does not exceed the largest possible sum "
                f"{self.clients} clients x {self.max_value} = {self.max_sum}; pick a larger t"
            )

    @property
    def max_sum(self) -> int:
        return self.clients * self.max_value

    @property
    def chunks(self) -> int:
        """Ciphertexts per vector: one per N slots."""
        return math.ceil(self.length / self.poly_modulus_degree)

    def slots(self, chunk: int) -> int:
        n_deg = self.poly_modulus_degree
        return min(n_deg, self.length - chunk * n_deg)

    @property
    def result_dtype(self) -> np.dtype:
        """Narrowest little-endian unsigned dtype for the plaintext counts sent to the server."""
        for dt in ("<u1", "<u2", "<u4", "<u8"):
            if self.max_sum <= np.iinfo(np.dtype(dt)).max:
                return np.dtype(dt)
        raise HEParameterError("max_sum does not fit 64 bits")  # pragma: no cover

    def digest(self) -> bytes:
        text = repr(
            (
                self.length,
                self.clients,
                self.max_value,
                self.poly_modulus_degree,
                self.plain_modulus,
                tuple(self.coeff_mod_bit_sizes),
            )
        )
        return hashlib.sha256(b"prism-he/v1/params\x00" + text.encode()).digest()


def session_id(params: HEParams, *, round_index: int, model_digest: bytes, key_id: bytes) -> bytes:
    """Binds a frame to the round, the model the client received, the keys, and the parameters."""
    h = hashlib.sha256(b"prism-he/v1/session\x00")
    h.update(struct.pack(">Q", round_index))
    h.update(hashlib.sha256(model_digest).digest())
    h.update(key_id)
    h.update(params.digest())
    return h.digest()
