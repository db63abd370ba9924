"""Shamir t-of-n secret sharing over the prime field GF(2^521 - 1).

The Mersenne prime 2^521 - 1 exceeds every secret we share (32-byte seeds and X25519 keys), so a
secret is one field element. A party's x-coordinate is its client id + 1 (never 0, where the
secret lives). Coefficients come from :mod:`secrets`.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence

PRIME = (1 << 521) - 1
SHARE_BYTES = 66  # ceil(521 / 8)


def evaluate(coefficients: Sequence[int], x: int) -> int:
    """The polynomial ``sum c_i x^i`` at ``x`` by Horner's rule, mod PRIME."""
    acc = 0
    for c in reversed(coefficients):
        acc = (acc * x + c) % PRIME
    return acc


def split(secret: int, threshold: int, xs: Iterable[int]) -> dict[int, int]:
    """Shares of ``secret`` at each x; any ``threshold`` recover it, fewer reveal nothing."""
    if not 0 <= secret < PRIME:
        raise ValueError("secret out of field range")
    xs = list(xs)
    if threshold < 1 or threshold > len(xs):
        raise ValueError(f"threshold {threshold} must be in 1..{len(xs)}")
    if len(set(xs)) != len(xs) or any(not 0 < x < PRIME for x in xs):
        raise ValueError("x-coordinates must be distinct and nonzero")
    coefficients = [secret] + [secrets.randbelow(PRIME) for _ in range(threshold - 1)]
    return {x: evaluate(coefficients, x) for x in xs}


def lagrange_at_zero(xs: Sequence[int]) -> list[int]:
    """Weights w_i with ``f(0) = sum w_i f(x_i)`` for any polynomial of degree < len(xs)."""
    weights = []
    for i, xi in enumerate(xs):
        num = den = 1
        for j, xj in enumerate(xs):
            if i != j:
                num = num * xj % PRIME
                den = den * (xj - xi) % PRIME
        if den == 0:
            raise ValueError("x-coordinates must be distinct")
        weights.append(num * pow(den, -1, PRIME) % PRIME)
    return weights


def combine(shares: Mapping[int, int], threshold: int) -> int:
    """Recover the secret from the first ``threshold`` shares (by x) of ``shares``."""
    if len(shares) < threshold:
        raise ValueError(f"need {threshold} shares, got {len(shares)}")
    xs = sorted(shares)[:threshold]
    weights = lagrange_at_zero(xs)
    return sum(w * shares[x] for w, x in zip(weights, xs, strict=True)) % PRIME


def share_to_bytes(value: int) -> bytes:
    return value.to_bytes(SHARE_BYTES, "little")


def share_from_bytes(data: bytes) -> int:
    value = int.from_bytes(data, "little")
    if value >= PRIME:
        raise ValueError("share out of field range")
    return value
