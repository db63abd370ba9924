"""The privacy ledger: what it records, what it states, and that it is written as strict JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from prism_secure.config import PrivacyConfig
from prism_secure.privacy import (
    LEDGER_FILENAME,
    OPACUS_VERSION,
    PrivacyLedger,
    read_ledger,
    release_statistics,
    write_ledger,
)

#: The public bound on records per client that every release here is made under.
BOUND = 10_000


def _strict_json(path: Path) -> dict:
    def refuse(token: str) -> None:
        raise AssertionError(f"non-standard JSON token {token}")

    return json.loads(path.read_text(), parse_constant=refuse)


@pytest.mark.parametrize("accountant", ["rdp", "prv"])
def test_dp_ledger_for_epsilon_8(tmp_path: Path, accountant: str) -> None:
    cfg = PrivacyConfig(max_records=BOUND, epsilon=8.0, accountant=accountant, noise_seed=None)
    records = {
        cid: release_statistics(torch.randn(n, 6), cfg=cfg).record
        for cid, n in [(0, 120), (1, 300), (2, 45)]
    }
    ledger = PrivacyLedger.from_records(cfg, records)
    assert ledger.guarantee and ledger.epsilon <= 8.0 and ledger.delta == 1e-5
    assert ledger.accountant == accountant and ledger.opacus_version == OPACUS_VERSION
    assert ledger.statement.startswith(f"({ledger.epsilon:.2f}, 1.0e-05)-DP for every record")
    assert "add/remove-one" in ledger.statement and "1 Gaussian release" in ledger.statement
    assert "SEEDED" not in ledger.statement and not ledger.noise_seeded

    path = write_ledger(tmp_path, ledger)
    assert path == tmp_path / LEDGER_FILENAME
    data = _strict_json(path)
    # Public parameters only: no record count, no released value, so every client's entry is
    # the same whatever it holds.
    assert len({json.dumps(rec, sort_keys=True) for rec in data["clients"].values()}) == 1
    assert not {"num_records", "released_count"} & set(data["clients"]["1"])
    assert "as partitioned" in ledger.statement
    assert (
        "membership.json" in data["operator_only_files"] and "model.prism" in data["covered_files"]
    )
    for rec in data["clients"].values():
        assert rec["epsilon"] <= 8.0 and rec["num_releases"] == 1
        assert rec["sigma_feature_sum"] == pytest.approx(
            rec["noise_multiplier"] * rec["l2_sensitivity"]
        )
    assert read_ledger(tmp_path) == ledger
    assert not list(tmp_path.glob(".*.tmp"))  # the atomic writer left no temporary behind


def test_seeded_noise_is_stated(tmp_path: Path) -> None:
    cfg = PrivacyConfig(max_records=BOUND, noise_seed=3)
    record = release_statistics(torch.randn(50, 4), cfg=cfg).record
    ledger = PrivacyLedger.from_records(cfg, {0: record})
    assert ledger.noise_seeded and "SEEDED" in ledger.statement


def test_no_dp_ledger_says_there_is_no_guarantee(tmp_path: Path) -> None:
    cfg = PrivacyConfig(max_records=BOUND, enabled=False)
    record = release_statistics(torch.randn(30, 4), cfg=cfg).record
    ledger = PrivacyLedger.from_records(cfg, {0: record})
    assert not ledger.guarantee and ledger.statement.startswith("NO differential privacy")
    assert ledger.epsilon == math.inf
    write_ledger(tmp_path, ledger)
    data = _strict_json(tmp_path / LEDGER_FILENAME)
    assert data["guarantee"] is False and data["epsilon"] == "Infinity"
    assert read_ledger(tmp_path) == ledger


def test_inconsistent_records_are_refused() -> None:
    dp = PrivacyConfig(max_records=BOUND, noise_seed=0)
    dp_record = release_statistics(torch.randn(50, 4), cfg=dp).record
    plain = release_statistics(
        torch.randn(50, 4), cfg=PrivacyConfig(max_records=BOUND, enabled=False)
    ).record
    with pytest.raises(ValueError, match="privacy.enabled"):
        PrivacyLedger.from_records(dp, {0: dp_record, 1: plain})
    other_clip = release_statistics(
        torch.randn(50, 4), cfg=PrivacyConfig(max_records=BOUND, clip_norm=2.0)
    ).record
    with pytest.raises(ValueError, match="clip_norm"):
        PrivacyLedger.from_records(dp, {0: dp_record, 1: other_clip})
    with pytest.raises(ValueError, match="at least one"):
        PrivacyLedger.from_records(dp, {})
