"""The training engine's summers on the real protocols: SecAgg parameters from the finder and the
split-view rule, stall risks, and the homomorphic summer's translation of dropout phases."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest

from prism_secure.config import RunConfig, SecureAggConfig, build_config
from prism_secure.errors import ConfigError
from prism_secure.federation.summers.base import SumOutcome
from prism_secure.federation.summers.factory import build_summer, planned_dropout
from prism_secure.federation.summers.policy import release_threshold, stall_risk
from prism_secure.protocols.errors import AbortedError
from prism_secure.protocols.secagg.params import default_neighbours, neighbourhood_size


def plain_sum(inputs: dict[int, np.ndarray], ids: list[int]) -> np.ndarray:
    return sum(inputs[c].astype(np.int64) for c in ids)


def test_sparse_threshold_counts_per_neighbourhood() -> None:
    cfg = SecureAggConfig(graph="sparse", threshold=0.5)
    k = default_neighbours(100)
    assert neighbourhood_size(100, "sparse", None) == k + 1
    assert release_threshold(cfg, 100) == int(np.ceil(0.5 * (k + 1)))
    # full graph: of all n (0.5 of 99 is secure, 2t > n; 0.5 of 100 would not be)
    assert release_threshold(SecureAggConfig(threshold=0.5), 99) == 50
    # a neighbourhood as large as the cohort is the full graph
    assert neighbourhood_size(10, "sparse", 40) == 10


def test_training_sum_on_the_sparse_graph_is_exact_beyond_one_neighbourhood() -> None:
    """100 clients, k = 14: t counts within a neighbourhood, so the round succeeds."""
    rng = np.random.default_rng(3)
    inputs = {c: rng.integers(0, 2, 300, dtype=np.uint8) for c in range(100)}
    summer = build_summer(RunConfig(secure_agg=SecureAggConfig(graph="sparse")))
    out = summer.sum(
        inputs, round_index=1, model_digest=os.urandom(32), dropouts={7: "masked", 40: "share"}
    )
    expected = sum(inputs[c].astype(np.int64) for c in out.survivors)
    assert 7 not in out.survivors and 40 not in out.survivors
    np.testing.assert_array_equal(out.counts, expected)


def test_stall_risk_flags_thin_neighbourhoods() -> None:
    sparse = SecureAggConfig(graph="sparse", neighbours=6, threshold=0.8)
    assert stall_risk(sparse, 200, 0.0) == 0.0
    assert stall_risk(sparse, 200, 0.3) > 0.5
    assert stall_risk(SecureAggConfig(mode="none"), 200, 0.3) == 0.0
    assert stall_risk(SecureAggConfig(), 10, 0.05) < 1e-3


def test_default_threshold_is_secure_on_ten_clients() -> None:
    """The old default fraction 0.5 gave t = 5 of 10: two halves could be shown two lists."""
    assert release_threshold(SecureAggConfig(), 10) == 6
    assert release_threshold(SecureAggConfig(), 11) == 6


def test_insecure_explicit_threshold_is_refused_naming_the_field() -> None:
    with pytest.raises(ConfigError) as info:
        release_threshold(SecureAggConfig(threshold=0.5), 10)
    assert info.value.field == "secure_agg.threshold" and "2t > n" in str(info.value)
    with pytest.raises(ConfigError, match="2t > k"):
        release_threshold(SecureAggConfig(graph="sparse", neighbours=8, threshold=0.4), 100)
    assert release_threshold(SecureAggConfig(threshold=0.6), 10) == 6  # secure: kept as given


def test_finder_chooses_k_for_the_planned_dropout() -> None:
    from prism_secure.federation.summers.policy import chosen_parameters

    cfg = build_config(overrides={"secure_agg.graph": "sparse", "federation.dropout": 0.1})
    assert planned_dropout(cfg) == 0.1  # planned for the dropout the run simulates
    chosen = chosen_parameters(cfg.secure_agg, 100, planned_dropout(cfg))
    k, t = chosen["neighbours"], chosen["threshold"]
    assert 2 * t > k and chosen["stall"] <= cfg.secure_agg.stall_target
    assert stall_risk(cfg.secure_agg, 100, 0.1) == chosen["stall"]
    assert set(chosen) >= {"graph", "neighbours", "threshold"}


def test_training_sum_with_finder_parameters_is_exact() -> None:
    rng = np.random.default_rng(4)
    inputs = {c: rng.integers(0, 2, 200, dtype=np.uint8) for c in range(40)}
    summer = build_summer(RunConfig(secure_agg=SecureAggConfig(graph="sparse", dropout=0.05)))
    out = summer.sum(inputs, round_index=1, model_digest=os.urandom(32), dropouts={3: "masked"})
    np.testing.assert_array_equal(
        out.counts, sum(inputs[c].astype(np.int64) for c in out.survivors)
    )


def test_homomorphic_sum_through_build_summer() -> None:
    pytest.importorskip("tenseal")
    summer = build_summer(RunConfig(secure_agg=SecureAggConfig(mode="he")))
    assert summer.name == "he"
    rng = np.random.default_rng(3)
    inputs = {c: rng.integers(0, 2, 1000, dtype=np.uint8) for c in range(5)}
    digest = hashlib.sha256(b"model").digest()
    out = summer.sum(
        inputs,
        round_index=1,
        model_digest=digest,
        dropouts={1: "upload", 2: "decrypt", 3: "upload"},
    )
    assert isinstance(out, SumOutcome)
    assert out.survivors == [0, 2, 4]  # 2 dropped after its upload: counted
    np.testing.assert_array_equal(out.counts, plain_sum(inputs, [0, 2, 4]))
    assert out.bytes_up[1] == 0 and out.bytes_up[2] > 1000
    # SecureAggConfig.threshold 0.5 of 5 -> at least 3 uploads, as for SecAgg
    with pytest.raises(AbortedError):
        summer.sum(
            inputs,
            round_index=1,
            model_digest=digest,
            dropouts={0: "upload", 1: "upload", 2: "upload"},
        )
    out = summer.sum(inputs, round_index=2, model_digest=digest, dropouts={})
    np.testing.assert_array_equal(out.counts, plain_sum(inputs, list(range(5))))
