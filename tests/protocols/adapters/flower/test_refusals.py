"""Bad updates are refused by name (client and array); the refusal crosses the wire as a record."""

from __future__ import annotations

import numpy as np
import pytest

from prism_secure.protocols import run_secure_sum
from prism_secure.protocols.adapters.flower.errors import (
    RefusalReport,
    ReportError,
    UpdateRefused,
)
from prism_secure.protocols.adapters.flower.layout import ArrayLayout, ArraySpec
from prism_secure.protocols.adapters.flower.quantise import dequantise_sum, quantise
from prism_secure.protocols.adapters.flower.quantise_config import QuantiseConfig

GOOD = {"w": np.zeros((3, 2), np.float32), "b": np.zeros(2, np.float32), "n": np.int64(4)}
LAYOUT = ArrayLayout.of(GOOD)
CFG = QuantiseConfig(max_weight=100)


def bad(name: str, value: object) -> dict:
    update = dict(GOOD)
    update[name] = value
    return update


@pytest.mark.parametrize(
    ("update", "array", "reason"),
    [
        ({"w": GOOD["w"], "n": GOOD["n"]}, "b", "missing"),
        ({**GOOD, "extra": np.zeros(1, np.float32)}, "extra", "unexpected"),
        (bad("w", np.zeros((3, 2), np.float64)), "w", "dtype"),
        (bad("w", np.zeros((3, 2), ">f4")), "w", "dtype"),
        (bad("n", np.float64(4)), "n", "dtype"),
        (bad("b", [0.0, 0.0]), "b", "dtype"),
        (bad("w", np.zeros((2, 3), np.float32)), "w", "shape"),
        (bad("b", np.zeros((2, 1), np.float32)), "b", "shape"),
        (bad("b", np.array([0.0, np.nan], np.float32)), "b", "non-finite"),
        (bad("w", np.full((3, 2), np.inf, np.float32)), "w", "non-finite"),
        (bad("b", np.array([-np.inf, 1.0], np.float32)), "b", "non-finite"),
    ],
)
def test_bad_update_is_refused_naming_client_and_array(
    update: dict, array: str, reason: str
) -> None:
    with pytest.raises(UpdateRefused) as info:
        quantise(update, LAYOUT, CFG, clients=3, client=17, num_examples=5)
    err = info.value
    assert (err.client, err.array, err.reason) == (17, array, reason)
    assert "client 17" in str(err) and repr(array) in str(err)


@pytest.mark.parametrize("weight", [0, 101, -3, 2.5, 5.0, True, None, "5"])
def test_weight_outside_its_bound_is_refused(weight: object) -> None:
    with pytest.raises(UpdateRefused) as info:
        quantise(GOOD, LAYOUT, CFG, clients=3, client=2, num_examples=weight)  # type: ignore[arg-type]
    assert (info.value.array, info.value.reason) == ("num_examples", "weight")


def test_unweighted_config_ignores_num_examples() -> None:
    e = quantise(GOOD, LAYOUT, QuantiseConfig(), clients=3, client=0, num_examples=10**9)
    assert e.weight == 1


def test_report_round_trips_as_a_flat_record_and_hostile_records_are_refused() -> None:
    with pytest.raises(UpdateRefused) as info:
        quantise(
            bad("b", np.array([np.nan, 0], np.float32)),
            LAYOUT,
            CFG,
            clients=3,
            client=9,
            num_examples=1,
        )
    record = info.value.report.to_record()
    assert all(isinstance(v, int | str) for v in record.values())
    assert RefusalReport.from_record(record) == info.value.report
    hostile = [
        {**record, "extra": 1},
        {**record, "reason": "because"},
        {**record, "client": -1},
        {**record, "detail": "x" * 5000},
        {**record, "array": b"b"},
        {k: v for k, v in record.items() if k != "client"},
        [("client", 1)],
    ]
    for h in hostile:
        with pytest.raises(ReportError):
            RefusalReport.from_record(h)  # type: ignore[arg-type]


def test_round_goes_on_without_the_refused_client() -> None:
    """The refused client sends no masked input: the protocol sees a dropout, the sum the rest."""
    updates = {i: {**GOOD, "b": np.full(2, 0.25 * i, np.float32)} for i in range(4)}
    updates[2]["w"] = np.full((3, 2), np.nan, np.float32)
    encoded, refused = {}, []
    for i, u in updates.items():
        try:
            encoded[i] = quantise(u, LAYOUT, CFG, clients=4, client=i, num_examples=10)
        except UpdateRefused as exc:
            refused.append(exc.report)
            encoded[i] = None
    assert [r.client for r in refused] == [2]
    bits = encoded[0].plan.bits
    zero = np.zeros(encoded[0].plan.length, np.uint32)
    res = run_secure_sum(
        {i: (e.vector if e is not None else zero) for i, e in encoded.items()},
        bits=bits,
        threshold=3,
        round_index=1,
        model_digest=LAYOUT.digest(),
        dropouts={r.client: "masked" for r in refused},
    )
    assert res.survivors == [0, 1, 3]
    agg = dequantise_sum(res.total, LAYOUT, CFG, clients=4, survivors=3)
    expected = np.full(2, (0 + 0.25 + 0.75) / 3)
    assert np.abs(agg.mean()["b"] - expected).max() <= agg.mean_error_bound("b")


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"name": "x", "shape": (2,), "dtype": "bool"}, "dtype"),
        ({"name": "x", "shape": (2,), "dtype": "complex64"}, "dtype"),
        ({"name": "x", "shape": (2,), "dtype": "float128"}, "dtype"),
        ({"name": "x", "shape": (2,), "dtype": "not-a-dtype"}, "dtype"),
        ({"name": "x", "shape": (-1,), "dtype": "float32"}, "shape"),
        ({"name": "", "shape": (1,), "dtype": "float32"}, "name"),
    ],
)
def test_layout_refuses_what_it_cannot_encode(spec: dict, field: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as info:
        ArraySpec(**spec)
    assert info.value.errors()[0]["loc"][0] == field


def test_layout_keeps_order_and_exact_dtypes_and_its_digest_binds_them() -> None:
    layout = ArrayLayout.of({"b": np.zeros(2, "<f2"), "a": np.zeros((1, 3), "<u8")})
    assert [(a.name, a.shape, a.dtype) for a in layout.arrays] == [
        ("b", (2,), "<f2"),
        ("a", (1, 3), "<u8"),
    ]
    other = ArrayLayout.of({"a": np.zeros((1, 3), "<u8"), "b": np.zeros(2, "<f2")})
    assert layout.digest() != other.digest()
    assert ArrayLayout.model_validate_json(layout.model_dump_json()) == layout
    with pytest.raises(ValueError, match="unique"):
        ArrayLayout(arrays=(layout.arrays[0], layout.arrays[0]))
