"""The quantised broadcast: exact codes over the wire, unbiased rounding, refusals, and runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from prism_secure.app import train_run
from prism_secure.config import build_config
from prism_secure.errors import ConfigError
from prism_secure.federation.broadcast import (
    HEADER_BYTES,
    BroadcastError,
    QuantisedScores,
    broadcast,
    quantise,
    receive,
)


@given(
    bits=st.integers(1, 8),
    d=st.integers(1, 300),
    seed=st.integers(0, 2**32),
    scale=st.floats(1e-3, 50),
)
def test_codes_survive_the_wire_and_values_stay_within_one_step(
    bits: int, d: int, seed: int, scale: float
) -> None:
    scores = torch.randn(d, generator=torch.Generator().manual_seed(seed % 1000)) * scale
    q = quantise(scores, bits, seed)
    message = q.to_bytes()
    assert HEADER_BYTES == 20
    assert len(message) == HEADER_BYTES + -(-d * bits // 8)
    back = QuantisedScores.from_bytes(message)
    np.testing.assert_array_equal(back.codes, q.codes)
    assert int(back.codes.max()) < 2**bits
    step = (q.hi - q.lo) / (2**bits - 1)
    assert float((back.dequantise() - scores).abs().max()) <= step * (1 + 1e-5) + 1e-6


def test_rounding_is_unbiased_and_reproducible_from_the_seed() -> None:
    scores = torch.linspace(-4.0, 4.0, 200_001)
    a = quantise(scores, 4, seed=11)
    assert np.array_equal(a.codes, quantise(scores, 4, seed=11).codes)
    assert not np.array_equal(a.codes, quantise(scores, 4, seed=12).codes)
    error = (a.dequantise() - scores).double()
    step = 8.0 / 15
    assert abs(float(error.mean())) < 0.01 * step  # nearest rounding would not average out
    assert float(error.abs().max()) > 0.6 * step  # it is stochastic, not nearest


def test_float32_broadcast_is_untouched_and_counted_at_four_bytes() -> None:
    scores = torch.randn(1000)
    same, message = broadcast(scores, None, seed=0)
    assert same is scores and message == scores.numpy().tobytes()
    assert torch.equal(receive(message, None, 1000), scores)
    decoded, message8 = broadcast(scores, 8, seed=0)
    assert len(message8) == HEADER_BYTES + 1000 and decoded.dtype == torch.float32
    assert torch.equal(receive(message8, 8, 1000), decoded)


@pytest.mark.parametrize(
    ("bits", "count", "match"),
    [(4, 1000, "at 4"), (8, 999, "sends 999"), (None, 1000, "float32 scores")],
)
def test_a_client_refuses_a_broadcast_its_run_did_not_ask_for(
    bits: int | None, count: int, match: str
) -> None:
    message = quantise(torch.randn(1000), 8, seed=2).to_bytes()
    with pytest.raises(BroadcastError, match=match):
        receive(message, bits, count)


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda m: m[:10], "shorter than its header"),
        (lambda m: b"XXXX" + m[4:], "not a quantised broadcast"),
        (lambda m: m[:4] + bytes([9]) + m[5:], "not a quantised broadcast"),
        (lambda m: m[:-1], "need"),
        (lambda m: m + b"\0", "need"),
        (lambda m: m[:12] + np.float32(np.nan).tobytes() + m[16:], "finite"),
        (lambda m: m[:12] + np.float32(9.0).tobytes() + m[16:], "finite"),  # lo above hi
    ],
)
def test_malformed_broadcasts_are_refused(mutate, match: str) -> None:  # noqa: ANN001
    message = quantise(torch.randn(100), 8, seed=1).to_bytes()
    with pytest.raises(BroadcastError, match=match):
        QuantisedScores.from_bytes(mutate(message))


def _rows(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]


def test_a_quantised_run_counts_its_real_bytes_and_reproduces(
    tiny_overrides: dict[str, object],
) -> None:
    base = {**tiny_overrides, "privacy.noise_seed": 3}
    plain = train_run(build_config(None, {**base, "output.name": "f32"}))
    quant = {**base, "federation.broadcast_bits": 8}
    one = train_run(build_config(None, {**quant, "output.name": "q8a"}))
    two = train_run(build_config(None, {**quant, "output.name": "q8b"}))
    assert (one / "model.prism").read_bytes() == (two / "model.prism").read_bytes()
    d = json.loads((one / "summary.json").read_text())["num_params"]
    for f, q in zip(_rows(plain), _rows(one), strict=True):
        protocol = f["bytes_down_per_client"] - 4 * d  # the SecAgg messages, the same in both
        assert q["bytes_down_per_client"] == pytest.approx(HEADER_BYTES + d + protocol)
    a = torch.load(plain / "checkpoints/latest.pt", weights_only=True)["scores"]
    b = torch.load(one / "checkpoints/latest.pt", weights_only=True)["scores"]
    assert not torch.equal(a, b)


def test_broadcast_bits_are_validated() -> None:
    assert build_config(None, {}).federation.broadcast_bits is None
    for bad in (0, 9):
        with pytest.raises(ConfigError, match="federation.broadcast_bits"):
            build_config(None, {"federation.broadcast_bits": bad})
