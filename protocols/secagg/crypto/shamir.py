"""Shamir t-of-n secret sharing over the prime field GF(2^521 - 1).

The Mersenne prime 2^521 - 1 exceeds every secret we share (32-byte seeds and X25519 keys), so a
secret is one field element. A party's x-coordinate is its client id + 1 (never 0, where the
secret lives). Coefficients come from :mod:`secrets`.

:func:`combine` interpolates from the first t shares; :func:`correct` uses extra shares to find
the secret when up to (m - t) / 2 of m shares are wrong (Berlekamp-Welch decoding of the
Reed-Solomon code that Shamir shares form), for a dealer that dealt a few inconsistent shares.
"""

from __future__ import annotations

import functools
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
    return list(_weights(tuple(xs)))


@functools.lru_cache(maxsize=512)
def _weights(xs: tuple[int, ...]) -> tuple[int, ...]:
    """Cached: on the full graph every secret has the same holders, so one set of weights."""
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
    return tuple(weights)


def combine(shares: Mapping[int, int], threshold: int) -> int:
    """Recover the secret from the first ``threshold`` shares (by x) of ``shares``."""
    if len(shares) < threshold:
        raise ValueError(f"need {threshold} shares, got {len(shares)}")
    xs = tuple(sorted(shares)[:threshold])
    weights = _weights(xs)
    return sum(w * shares[x] for w, x in zip(weights, xs, strict=True)) % PRIME


MAX_CORRECT_POINTS = 160  # decoding is O(m^3): bounded, and run only when combine() was wrong


def correct(shares: Mapping[int, int], threshold: int) -> int | None:
    """The secret of the one polynomial of degree < t that all but e of the shares lie on.

    Uses m' = t + 2e of the shares (e as large as the shares and the bound allow); None when no
    such polynomial exists (too many wrong shares) or e would be 0.
    """
    m = min(len(shares), MAX_CORRECT_POINTS)
    errors = (m - threshold) // 2
    if errors < 1:
        return None
    xs = sorted(shares)[: threshold + 2 * errors]
    # Unknowns: Q's t + e coefficients, then E's e low coefficients (E is monic of degree e).
    rows = []
    for x in xs:
        y = shares[x]
        powers = [pow(x, j, PRIME) for j in range(threshold + errors)]
        row = powers + [(-y * powers[j]) % PRIME for j in range(errors)]
        rows.append(row + [y * powers[errors] % PRIME])
    solution = _solve(rows, threshold + 2 * errors)
    if solution is None:
        return None
    q, e = solution[: threshold + errors], [*solution[threshold + errors :], 1]
    quotient = _divide(q, e)
    if quotient is None or any(quotient[threshold:]):
        return None
    return quotient[0]


def _solve(rows: list[list[int]], unknowns: int) -> list[int] | None:
    """One solution of the augmented system mod PRIME (free unknowns 0), or None."""
    pivots: list[int] = []
    r = 0
    for col in range(unknowns):
        pivot = next((i for i in range(r, len(rows)) if rows[i][col]), None)
        if pivot is None:
            continue
        rows[r], rows[pivot] = rows[pivot], rows[r]
        inv = pow(rows[r][col], -1, PRIME)
        rows[r] = [v * inv % PRIME for v in rows[r]]
        for i in range(len(rows)):
            if i != r and rows[i][col]:
                f = rows[i][col]
                rows[i] = [(a - f * b) % PRIME for a, b in zip(rows[i], rows[r], strict=True)]
        pivots.append(col)
        r += 1
    if any(row[-1] for row in rows[r:]):
        return None  # inconsistent
    solution = [0] * unknowns
    for i, col in enumerate(pivots):
        solution[col] = rows[i][-1]
    return solution


def _divide(num: list[int], den: list[int]) -> list[int] | None:
    """num / den for coefficient lists (lowest first, den monic); None if a remainder is left."""
    num = list(num)
    out = [0] * max(1, len(num) - len(den) + 1)
    for i in range(len(num) - len(den), -1, -1):
        coef = num[i + len(den) - 1]
        out[i] = coef
        if coef:
            for j, d in enumerate(den):
                num[i + j] = (num[i + j] - coef * d) % PRIME
    if any(num):
        return None
    return out


def share_to_bytes(value: int) -> bytes:
    return value.to_bytes(SHARE_BYTES, "little")


def share_from_bytes(data: bytes) -> int:
    value = int.from_bytes(data, "little")
    if value >= PRIME:
        raise ValueError("share out of field range")
    return value
