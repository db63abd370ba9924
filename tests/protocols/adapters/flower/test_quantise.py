"""Quantisation for the Flower adapter: error bounds, no wrap at the modulus, exact round trips."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from prism_secure.errors import ConfigError
from prism_secure.protocols import SessionParams, run_secure_sum
from prism_secure.protocols.adapters.flower.errors import AggregateError
from prism_secure.protocols.adapters.flower.layout import ArrayLayout
from prism_secure.protocols.adapters.flower.quantise import dequantise_sum, quantise
from prism_secure.protocols.adapters.flower.quantise_config import (
    MAX_BITS,
    QuantiseConfig,
    finest_levels,
    plan_vector,
)

FLOATS = [np.float16, np.float32, np.float64]
INTS = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]


def secure_sum(vectors: list[np.ndarray], bits: int) -> np.ndarray:
    """What the protocol returns: the entry-wise sum mod 2^bits (Python ints: no int64 wrap)."""
    total = np.zeros(vectors[0].shape[0], dtype=object)
    for v in vectors:
        total = total + v.astype(object)
    return (total % (1 << bits)).astype(np.int64)


def reference(updates: list[dict], weights: list[int], cfg: QuantiseConfig) -> dict:
    """Σ w x' computed apart from the encoder: x' the input clipped to the stated range."""
    lo, hi = cfg.integer_range
    out = {}
    for name, first in updates[0].items():
        if first.dtype.kind == "f":
            parts = [
                w * np.clip(u[name].astype(np.float64), -cfg.clip, cfg.clip)
                for u, w in zip(updates, weights, strict=True)
            ]
            out[name] = np.sum(parts, axis=0)
        else:
            acc = np.zeros(first.shape, dtype=object)
            for u, w in zip(updates, weights, strict=True):
                acc = acc + w * np.clip(u[name].astype(object), lo, hi)
            out[name] = acc
    return out


def outside(updates: list[dict], cfg: QuantiseConfig) -> int:
    lo, hi = cfg.integer_range
    count = 0
    for u in updates:
        for a in u.values():
            if a.dtype.kind == "f":
                count += int(np.sum(np.abs(a.astype(np.float64)) > cfg.clip))
            else:
                count += int(np.sum((a.astype(object) < lo) | (a.astype(object) > hi)))
    return count


@st.composite
def cohorts(draw: st.DrawFn) -> tuple:
    clip = draw(st.sampled_from([0.5, 1.0, 3.0]))
    cfg = QuantiseConfig(
        clip=clip,
        levels_bits=draw(st.integers(1, 24)),
        integer_range=draw(st.sampled_from([(-8, 7), (0, 255), (-(2**20), 2**20)])),
        max_weight=draw(st.sampled_from([None, 1, 7, 1000])),
    )
    specs = draw(
        st.lists(
            st.tuples(
                st.sampled_from(FLOATS + INTS),
                hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
            ),
            min_size=1,
            max_size=4,
        )
    )
    n = draw(st.integers(1, 6))
    updates = []
    for _ in range(n):
        update = {}
        for i, (dtype, shape) in enumerate(specs):
            if np.dtype(dtype).kind == "f":
                elements = hnp.from_dtype(
                    np.dtype(dtype),
                    min_value=-3 * clip,
                    max_value=3 * clip,
                    allow_nan=False,
                    allow_infinity=False,
                )
            else:
                elements = hnp.from_dtype(np.dtype(dtype))
            update[f"a{i}"] = draw(hnp.arrays(dtype, shape, elements=elements))
        updates.append(update)
    bound = cfg.weight_bound
    weights = [draw(st.integers(1, bound)) for _ in range(n)]
    return cfg, updates, weights


@settings(max_examples=150)
@given(cohorts())
def test_sum_of_n_clients_within_the_bound_exact_integers_shapes_dtypes_and_clip_count(
    case: tuple,
) -> None:
    cfg, updates, weights = case
    n = len(updates)
    layout = ArrayLayout.of(updates[0])
    encoded = [
        quantise(u, layout, cfg, clients=n, client=i, num_examples=w)
        for i, (u, w) in enumerate(zip(updates, weights, strict=True))
    ]
    bits = encoded[0].plan.bits
    assert all(int(e.vector.max()) < 1 << bits for e in encoded)
    agg = dequantise_sum(
        secure_sum([e.vector for e in encoded], bits), layout, cfg, clients=n, survivors=n
    )
    used = weights if cfg.max_weight is not None else [1] * n
    assert agg.total_weight == sum(used)
    ref = reference(updates, used, cfg)
    for spec in layout.arrays:
        got = agg.sums[spec.name]
        assert got.shape == spec.shape
        if spec.is_float:
            assert np.all(np.abs(got - ref[spec.name]) <= agg.sum_error_bound)
        else:
            assert np.array_equal(got.astype(object), ref[spec.name])
    mean = agg.mean()
    for spec in layout.arrays:
        assert mean[spec.name].dtype == spec.np_dtype and mean[spec.name].shape == spec.shape
        if spec.is_float:
            exact = ref[spec.name] / agg.total_weight
            err = np.abs(mean[spec.name].astype(np.float64) - exact)
            assert np.all(err <= agg.mean_error_bound(spec.name))
    assert agg.clipped == outside(updates, cfg) == sum(e.clipped_total for e in encoded)


@settings(max_examples=60)
@given(
    n=st.integers(1, 300),
    levels_bits=st.integers(1, 30),
    weight=st.sampled_from([None, 1, 2, 255, 256, 1000]),
    ints=st.booleans(),
)
def test_no_wrap_at_the_extremes_and_the_modulus_is_the_smallest(
    n: int, levels_bits: int, weight: int | None, ints: bool
) -> None:
    """Every client at the top of every range (and beyond): the sum still decodes exactly."""
    cfg = QuantiseConfig(
        clip=1.0, levels_bits=levels_bits, max_weight=weight, integer_range=(-5, 2**levels_bits)
    )
    update = {"x": np.array([1.0, 5.0, -1.0, -7.0])}
    if ints:
        update["k"] = np.array([2**levels_bits, 2**40, -5, -(2**40)], dtype=np.int64)
    layout = ArrayLayout.of(update)
    w = cfg.weight_bound
    e = quantise(update, layout, cfg, clients=n, client=0, num_examples=w)
    plan = e.plan
    largest = max(cfg.levels, w * cfg.integer_span if ints else 0)
    assert int(e.vector[: plan.data].max()) == largest  # the largest entry a client can send
    total = secure_sum([e.vector] * n, plan.bits)
    assert int(total.max()) <= (1 << plan.bits) - 1
    top = n * max(w, largest)  # the largest entry of the sum: the modulus is the smallest
    assert top >= 1 << (plan.bits - 1) or plan.bits == n.bit_length() + 1
    agg = dequantise_sum(total, layout, cfg, clients=n, survivors=n)
    assert agg.total_weight == n * w
    np.testing.assert_allclose(
        agg.sums["x"], n * w * np.array([1.0, 1.0, -1.0, -1.0]), atol=agg.sum_error_bound
    )
    if ints:
        assert agg.sums["k"].tolist() == [
            n * w * v for v in (2**levels_bits, 2**levels_bits, -5, -5)
        ]
    assert agg.clipped == n * (4 if ints else 2)


def test_modulus_past_62_bits_is_refused_naming_the_largest_factor() -> None:
    layout = ArrayLayout.of({"x": np.zeros(3, np.float32)})
    cfg = QuantiseConfig(levels_bits=48, max_weight=2**10)
    plan = plan_vector(cfg, layout, 2**14 - 1)  # bitlen((2^14 - 1)(2^48 - 1)) = 62
    assert plan.bits == MAX_BITS
    SessionParams(threshold=2, bits=plan.bits, length=plan.length, clients=2)  # protocol takes it
    with pytest.raises(ConfigError) as info:
        plan_vector(cfg, layout, 2**14 + 1)
    assert info.value.field == "levels_bits"
    with pytest.raises(ConfigError) as info:
        plan_vector(QuantiseConfig(levels_bits=8, max_weight=2**40), layout, 2**30)
    assert info.value.field == "max_weight"
    ints = ArrayLayout.of({"k": np.zeros(2, np.int64)})
    with pytest.raises(ConfigError) as info:
        plan_vector(QuantiseConfig(integer_range=(0, 2**40), max_weight=2**10), ints, 2**16)
    assert info.value.field == "integer_range"
    with pytest.raises(ConfigError) as info:
        plan_vector(QuantiseConfig(integer_range=(-(2**61), 2**61)), ints, 8)
    assert info.value.field == "integer_range"


def test_rounding_is_unbiased_and_fresh_on_every_call() -> None:
    cfg = QuantiseConfig(clip=1.0, levels_bits=4)  # step 2/15
    frac = 0.25
    x = np.full(40_000, -1.0 + (3 + frac) * cfg.step)
    layout = ArrayLayout.of({"x": x})
    a = quantise({"x": x}, layout, cfg, clients=1, client=0).vector[: x.size]
    b = quantise({"x": x}, layout, cfg, clients=1, client=0).vector[: x.size]
    assert set(np.unique(a)) <= {3, 4}
    up = float(np.mean(a == 4))
    sigma = math.sqrt(frac * (1 - frac) / x.size)
    assert abs(up - frac) < 6 * sigma
    assert not np.array_equal(a, b)  # a seeded generator would repeat itself


def test_hoeffding_bound_holds_for_fifty_clients() -> None:
    cfg = QuantiseConfig(clip=1.0, levels_bits=6, max_weight=10)
    gen = np.random.default_rng(int.from_bytes(os.urandom(8), "little"))
    updates = [{"x": gen.uniform(-1, 1, 2000)} for _ in range(50)]
    weights = [int(w) for w in gen.integers(1, 11, 50)]
    layout = ArrayLayout.of(updates[0])
    enc = [
        quantise(u, layout, cfg, clients=50, client=i, num_examples=w)
        for i, (u, w) in enumerate(zip(updates, weights, strict=True))
    ]
    agg = dequantise_sum(
        secure_sum([e.vector for e in enc], enc[0].plan.bits), layout, cfg, clients=50
    )
    ref = sum(w * u["x"] for u, w in zip(updates, weights, strict=True))
    err = np.abs(agg.sums["x"] - ref).max()
    likely = cfg.likely_sum_error(agg.clients, delta=1e-12)  # union over 2000 entries
    assert err <= likely < agg.sum_error_bound


def test_through_the_real_protocol_with_a_dropout() -> None:
    cfg = QuantiseConfig(clip=2.0, levels_bits=20, max_weight=500)
    gen = np.random.default_rng(int.from_bytes(os.urandom(8), "little"))
    updates = [
        {
            "w": gen.normal(0, 1, (50, 3)).astype(np.float32),
            "count": gen.integers(0, 100, 2).astype(np.int32),
        }
        for _ in range(5)
    ]
    weights = [100, 200, 300, 400, 500]
    layout = ArrayLayout.of(updates[0])
    enc = {
        i: quantise(u, layout, cfg, clients=5, client=i, num_examples=w)
        for i, (u, w) in enumerate(zip(updates, weights, strict=True))
    }
    plan = enc[0].plan
    res = run_secure_sum(
        {i: e.vector for i, e in enc.items()},
        bits=plan.bits,
        threshold=3,
        round_index=1,
        model_digest=layout.digest(),
        dropouts={3: "masked"},
    )
    assert res.survivors == [0, 1, 2, 4]
    agg = dequantise_sum(res.total, layout, cfg, clients=5, survivors=len(res.survivors))
    kept = [updates[i] for i in res.survivors]
    ref = reference(kept, [weights[i] for i in res.survivors], cfg)
    assert agg.total_weight == 1100
    assert np.all(np.abs(agg.sums["w"] - ref["w"]) <= agg.sum_error_bound)
    assert agg.sums["count"].tolist() == ref["count"].tolist()


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"clip": 0.0}, "clip"),
        ({"clip": float("inf")}, "clip"),
        ({"levels_bits": 0}, "levels_bits"),
        ({"levels_bits": 49}, "levels_bits"),
        ({"max_weight": 0}, "max_weight"),
        ({"integer_range": (3, 2)}, "integer_range"),
        ({"integer_range": (0, 2**62)}, "integer_range"),
        ({"rounding": "nearest"}, "rounding"),
    ],
)
def test_bad_config_names_the_field(values: dict, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        QuantiseConfig.parse(values)
    assert info.value.field == field


def test_impossible_sums_are_refused() -> None:
    cfg = QuantiseConfig(levels_bits=8, max_weight=3)
    layout = ArrayLayout.of({"x": np.zeros(4)})
    one = quantise({"x": np.zeros(4)}, layout, cfg, clients=2, client=0, num_examples=3)
    plan = one.plan
    good = secure_sum([one.vector] * 2, plan.bits)  # summed weight 6
    agg = dequantise_sum(good, layout, cfg, clients=2, survivors=2)
    assert (agg.clients, agg.total_weight) == (2, 6)
    for bad in (
        good[:-1],
        good.astype(np.float64),
        np.full_like(good, -1),
        np.full_like(good, 1 << plan.bits),
    ):
        with pytest.raises(AggregateError) as info:
            dequantise_sum(bad, layout, cfg, clients=2)
        assert info.value.field == "total"
    heavy = good.copy()
    heavy[plan.weight_index] = 7  # more than 2 clients of weight <= 3 can carry
    with pytest.raises(AggregateError) as info:
        dequantise_sum(heavy, layout, cfg, clients=2)
    assert info.value.field == "weight"
    with pytest.raises(AggregateError) as info:
        dequantise_sum(good, layout, cfg, clients=2, survivors=1)
    assert info.value.field == "count"
    big = good.copy()
    big[0] = 2 * cfg.levels + 1  # more than 2 clients can send
    assert big[0] < 1 << plan.bits
    with pytest.raises(AggregateError) as info:
        dequantise_sum(big, layout, cfg, clients=2)
    assert info.value.field == "total"


def test_finest_levels_fill_a_32_bit_word_and_no_more() -> None:
    layout = ArrayLayout.of({"x": np.zeros(5, np.float32)})
    for n in (2, 10, 50, 1000):
        cfg = finest_levels(QuantiseConfig(max_weight=1000), layout, n)
        assert plan_vector(cfg, layout, n).bits <= 32
        finer = cfg.model_copy(update={"levels_bits": cfg.levels_bits + 1})
        assert plan_vector(finer, layout, n).bits > 32


def test_weighted_mean_error_shrinks_with_the_mean_weight() -> None:
    """Scaling by w / W before rounding: heavy clients get a finer grid for their share."""
    cfg = QuantiseConfig(levels_bits=10, max_weight=1000)
    x = {"x": np.full(20_000, 0.3)}
    layout = ArrayLayout.of(x)
    enc = [quantise(x, layout, cfg, clients=4, client=i, num_examples=1000) for i in range(4)]
    agg = dequantise_sum(
        secure_sum([e.vector for e in enc], enc[0].plan.bits), layout, cfg, clients=4
    )
    assert agg.mean_error_bound("x") < 1.01 * cfg.step  # W m / Σw = 1
    light = [quantise(x, layout, cfg, clients=4, client=i, num_examples=10) for i in range(4)]
    agg_light = dequantise_sum(
        secure_sum([e.vector for e in light], light[0].plan.bits), layout, cfg, clients=4
    )
    assert agg_light.mean_error_bound("x") > 99 * cfg.step  # 100x coarser for w = W / 100
    assert np.abs(agg_light.mean()["x"] - 0.3).max() <= agg_light.mean_error_bound("x")


# 2 levels n below 2^52 (centred in float64) and above it (centred in int64 first)
@pytest.mark.parametrize(("levels_bits", "n"), [(8, 4), (48, 9)])
def test_a_float_sum_is_its_exact_value_rounded_once(levels_bits: int, n: int) -> None:
    """(2 x - levels n) clip / levels w, to within the one rounding of the final multiply."""
    from fractions import Fraction

    cfg = QuantiseConfig(levels_bits=levels_bits, clip=1.5, max_weight=7)
    layout = ArrayLayout.of({"x": np.zeros(64, np.float32)})
    gen = np.random.default_rng(3)
    updates = [{"x": gen.uniform(-2, 2, 64).astype(np.float32)} for _ in range(n)]
    vectors = [
        quantise(u, layout, cfg, clients=n, client=i, num_examples=i % 7 + 1).vector
        for i, u in enumerate(updates)
    ]
    plan = plan_vector(cfg, layout, n)
    assert (2 * cfg.levels * n < 1 << 52) == (levels_bits == 8)
    total = secure_sum(vectors, plan.bits)
    got = dequantise_sum(total, layout, cfg, clients=n, survivors=n).sums["x"]
    levels, w = cfg.levels, cfg.weight_bound
    for x, value in zip(total[:64].tolist(), got.tolist(), strict=True):
        exact = Fraction(2 * x - levels * n) * Fraction(cfg.clip) * w / levels
        assert abs(Fraction(value) - exact) <= abs(exact) * Fraction(1, 2**51) + Fraction(
            1, 2**1000
        )


@pytest.mark.parametrize("dtype", FLOATS)
def test_the_mean_is_the_float64_quotient_in_the_declared_dtype(dtype: type) -> None:
    cfg = QuantiseConfig(levels_bits=12, clip=4.0, max_weight=9)
    layout = ArrayLayout.of({"x": np.zeros(300, dtype)})
    gen = np.random.default_rng(4)
    updates = [{"x": gen.uniform(-4, 4, 300).astype(dtype)} for _ in range(3)]
    vectors = [
        quantise(u, layout, cfg, clients=3, client=i, num_examples=2 * i + 3).vector
        for i, u in enumerate(updates)
    ]
    total = secure_sum(vectors, plan_vector(cfg, layout, 3).bits)
    agg = dequantise_sum(total, layout, cfg, clients=3, survivors=3)
    mean = agg.mean()["x"]
    assert mean.dtype == dtype
    assert np.array_equal(mean, (agg.sums["x"] / agg.total_weight).astype(dtype))
