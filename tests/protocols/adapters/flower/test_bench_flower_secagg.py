"""The side-by-side harness runs both sides on one app (tiny sizes, one process, no SuperLink)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("flwr")
sys.path.insert(0, str(Path(__file__).resolve().parents[4] / "bench"))
import flower_secagg as bench  # noqa: E402


@pytest.mark.parametrize("stage", ["setup", "share", "masked", "unmask"])
def test_both_sides_aggregate_the_weighted_mean_and_ours_survives_every_dropout(stage: str) -> None:
    updates, weights = bench.make_app(5, 300, seed=3)
    drops = {1: stage}
    ours = bench.our_round(updates, weights, 3, drops)
    flower = bench.flower_side(updates, weights, 3, drops)
    assert ours["completed"] and ours["max_error"] <= ours["bound"]
    assert ours["survivors"] == (4 if stage != "unmask" else 5)
    if stage in ("setup", "share"):
        assert not flower["completed"]  # Flower's SecAgg+ stops when a client drops this early
    else:
        assert flower["completed"] and flower["max_error"] < 1e-5
        assert flower["survivors"] == ours["survivors"]
    assert ours["up_bytes"] < flower["up_bytes"]
