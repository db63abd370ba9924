"""Shamir sharing over GF(2^521 - 1): fixed vectors and properties."""

from __future__ import annotations

import secrets

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prism_secure.protocols.secagg.crypto import shamir

P = shamir.PRIME


def test_field_is_the_mersenne_prime_521() -> None:
    assert P == 2**521 - 1
    assert pow(3, P - 1, P) == 1  # Fermat witness; 2^521-1 is a known Mersenne prime


def test_evaluate_vector() -> None:
    # f(x) = 42 + 7x + 3x^2
    assert [shamir.evaluate([42, 7, 3], x) for x in (1, 2, 3, 10)] == [52, 68, 90, 412]
    # wrap-around: f(x) = (P - 1) + x  =>  f(1) = 0
    assert shamir.evaluate([P - 1, 1], 1) == 0


def test_combine_vector() -> None:
    assert shamir.combine({1: 52, 2: 68, 3: 90}, 3) == 42
    assert shamir.combine({2: 68, 3: 90, 10: 412}, 3) == 42
    # two shares of a degree-2 polynomial interpolate a line, not the secret
    assert shamir.combine({1: 52, 2: 68}, 2) == 36


def test_lagrange_weights_vector() -> None:
    # points 1, 2: w1 = 2/(2-1) = 2, w2 = 1/(1-2) = -1
    assert shamir.lagrange_at_zero([1, 2]) == [2, P - 1]


@settings(max_examples=60, deadline=None)
@given(
    secret=st.integers(0, P - 1),
    n=st.integers(1, 12),
    data=st.data(),
)
def test_any_t_shares_recover(secret: int, n: int, data: st.DataObject) -> None:
    t = data.draw(st.integers(1, n))
    xs = data.draw(st.lists(st.integers(1, 2**32), min_size=n, max_size=n, unique=True))
    shares = shamir.split(secret, t, xs)
    subset = data.draw(st.lists(st.sampled_from(xs), min_size=t, max_size=t, unique=True))
    assert shamir.combine({x: shares[x] for x in subset}, t) == secret


@settings(max_examples=30, deadline=None)
@given(secret=st.integers(0, P - 1), t=st.integers(2, 8))
def test_t_minus_one_shares_miss_the_secret(secret: int, t: int) -> None:
    """The polynomial has degree t-1: interpolating t-1 shares gives an unrelated value."""
    xs = list(range(1, t + 2))
    shares = shamir.split(secret, t, xs)
    assert shamir.combine({x: shares[x] for x in xs[: t - 1]}, t - 1) != secret
    assert shamir.combine(shares, t + 1) == secret  # more shares than t also work


def test_share_bytes_roundtrip_and_range() -> None:
    v = secrets.randbelow(P)
    assert shamir.share_from_bytes(shamir.share_to_bytes(v)) == v
    with pytest.raises(ValueError):
        shamir.share_from_bytes((P + 1).to_bytes(66, "little"))


@pytest.mark.parametrize(
    "args", [(P, 2, [1, 2]), (1, 3, [1, 2]), (1, 2, [1, 1]), (1, 2, [0, 1]), (1, 0, [1])]
)
def test_split_rejects_bad_arguments(args: tuple) -> None:
    with pytest.raises(ValueError):
        shamir.split(*args)


def test_fewer_than_t_shares_refused() -> None:
    shares = shamir.split(5, 3, [1, 2, 3])
    with pytest.raises(ValueError):
        shamir.combine({1: shares[1], 2: shares[2]}, 3)
