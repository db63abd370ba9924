"""The Flower engine's logic with the real ClientApp and real Flower messages, in one process.

A :class:`FakeGrid` hands every message straight to the ClientApp (real SecAgg, real DP
release, real training), so these tests check what the engine does with dropouts at each phase,
malformed payloads, misconfigured sites and restarts, without starting Flower's processes.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from flwr.app import ConfigRecord, Message, RecordDict

from prism_secure.app import SilentEvents, train_run
from prism_secure.app.clients import client_target
from prism_secure.app.generator import build_run_generator, initial_scores
from prism_secure.artifacts.released import ReleaseStore
from prism_secure.artifacts.rundir import RunDirectory
from prism_secure.config import build_config
from prism_secure.features.factory import build_feature_map
from prism_secure.federation.broadcast import HEADER_BYTES
from prism_secure.federation.client_round import Client, client_round
from prism_secure.federation.flower.client_app import app as client_app
from prism_secure.federation.flower.server_run import serve
from prism_secure.federation.flower.site import SiteError, read_site, run_folder, run_key
from prism_secure.federation.flower.site_release import site_release
from prism_secure.federation.flower.site_round import train_and_advertise
from prism_secure.protocols import SessionParams
from prism_secure.protocols.adapters.flower.transport import (
    RECORD,
    FlowerPayloadError,
    pack,
    unpack,
)

NODES = {101: 0, 202: 1, 303: 2}  # node id -> partition id


def _overrides(tiny_overrides: dict[str, object], **more: object) -> dict[str, object]:
    return {
        **tiny_overrides,
        "federation.rounds": 2,
        "privacy.noise_seed": 5,
        "training.threads": 1,
        "flower.train_timeout": 0.5,
        "flower.phase_timeout": 0.2,
        "flower.startup_timeout": 1.0,
        **more,
    }


def _sites(tmp_path: Path, data_root: Path, **extra: dict[str, object]) -> dict[int, dict]:
    configs = {
        node: {
            "partition-id": cid,
            "num-partitions": 3,
            "data-dir": str(data_root),
            "state-dir": str(tmp_path / f"site-{cid}"),
        }
        for node, cid in NODES.items()
    }
    for node, cfg in extra.items():
        configs[int(node)] = cfg
    return configs


def _flower_run(overrides: dict[str, object], name: str, grid: object) -> Path:
    cfg = build_config(None, {**overrides, "federation.engine": "flower", "output.name": name})
    run = RunDirectory.create(cfg)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return serve(grid, run, SilentEvents())


def _rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_the_flower_engine_trains_the_in_process_model_byte_for_byte(
    tiny_overrides: dict[str, object], data_root: Path, tmp_path: Path, fake_grid: type
) -> None:
    overrides = _overrides(tiny_overrides)
    flower = _flower_run(overrides, "flower", fake_grid(client_app, _sites(tmp_path, data_root)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        local = train_run(build_config(None, {**overrides, "output.name": "local"}))
    assert (flower / "model.prism").read_bytes() == (local / "model.prism").read_bytes()
    ours, theirs = _rows(flower), _rows(local)
    assert [r["counts_sha256"] for r in ours] == [r["counts_sha256"] for r in theirs]
    assert json.loads((flower / "privacy.json").read_text())["epsilon"] <= 8.0
    for row in ours:
        assert row["flower_bytes_up_per_client"] > row["bytes_up_per_client"] > 0
        assert set(row["phase_seconds"]) == {"train", "share", "masked", "consistency", "unmask"}
    summary = json.loads((flower / "summary.json").read_text())
    assert summary["total_flower_bytes_up"] > summary["total_bytes_up"] > 0
    assert "total_flower_bytes_up" not in json.loads((local / "summary.json").read_text())
    # No message carried a record count or a released statistic: sites keep them.
    assert not (flower / "released").exists()
    assert ReleaseStore(next((tmp_path / "site-0").glob("run-*"))).load(0) is not None


def test_a_quantised_broadcast_keeps_the_flower_model_byte_for_byte_the_in_process_one(
    tiny_overrides: dict[str, object], data_root: Path, tmp_path: Path, fake_grid: type
) -> None:
    overrides = _overrides(tiny_overrides, **{"federation.broadcast_bits": 4})
    grid = fake_grid(client_app, _sites(tmp_path, data_root))
    flower = _flower_run(overrides, "flower-q4", grid)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        local = train_run(build_config(None, {**overrides, "output.name": "local-q4"}))
        plain = train_run(build_config(None, {**_overrides(tiny_overrides), "output.name": "f32"}))
    assert (flower / "model.prism").read_bytes() == (local / "model.prism").read_bytes()
    assert (flower / "model.prism").read_bytes() != (plain / "model.prism").read_bytes()
    ours, theirs = _rows(flower), _rows(local)
    assert [r["counts_sha256"] for r in ours] == [r["counts_sha256"] for r in theirs]
    # Each client got the 4-bit message (header + d / 2 bytes) where float32 sends 4 d.
    d = json.loads((local / "summary.json").read_text())["num_params"]
    for q, f in zip(theirs, _rows(plain), strict=True):
        secagg = f["bytes_down_per_client"] - 4 * d
        assert q["bytes_down_per_client"] == HEADER_BYTES + -(-d * 4 // 8) + secagg


def _expected_counts(run: Path, tmp_path: Path, survivors: list[int], round_index: int) -> str:
    """Replay the survivors' local training from their own releases; the digest of their sum."""
    cfg = RunDirectory.open(run).config()
    generator = build_run_generator(cfg)
    fmap = build_feature_map(cfg.features, (1, 28, 28))
    scores = initial_scores(cfg, generator)
    key = run_key((run / "config.json").read_text(), run.name)
    total = 0
    for cid in survivors:
        released = ReleaseStore(tmp_path / f"site-{cid}" / f"run-{key}").load(cid)
        assert released is not None
        torch.set_num_threads(1)
        client = Client(cid, client_target(released))
        up = client_round(cfg, generator, fmap, client, scores, round_index)
        total = total + up.upload.astype(np.int64)
    torch.set_num_threads(2)
    return hashlib.sha256(np.ascontiguousarray(total, np.int64).tobytes()).hexdigest()[:16]


@pytest.mark.parametrize("stage", ["train", "share", "masked", "consistency", "unmask"])
def test_a_site_silent_at_any_phase_drops_out_and_the_sum_stays_exact(
    stage: str, tiny_overrides: dict[str, object], data_root: Path, tmp_path: Path, fake_grid: type
) -> None:
    # Partition 0 falls silent at one phase of round 1. Before its masked input reaches the
    # server it is out of the sum; after, it is in (its input is already masked into it).
    grid = fake_grid(
        client_app,
        _sites(tmp_path, data_root),
        silent=lambda node, st, rnd: node == 101 and st == stage and rnd == 1,
    )
    run = _flower_run(_overrides(tiny_overrides, **{"federation.rounds": 1}), "drop", grid)
    (row,) = _rows(run)
    assert not row["aborted"]
    counted = [0, 1, 2] if stage in ("consistency", "unmask") else [1, 2]
    assert row["survivors"] == len(counted)
    assert row["counts_sha256"] == _expected_counts(run, tmp_path, counted, 1)


def test_below_the_threshold_a_round_aborts_and_the_next_one_proceeds(
    tiny_overrides: dict[str, object], data_root: Path, tmp_path: Path, fake_grid: type
) -> None:
    grid = fake_grid(
        client_app,
        _sites(tmp_path, data_root),
        silent=lambda node, st, rnd: node in (101, 202) and st == "share" and rnd == 1,
    )
    run = _flower_run(_overrides(tiny_overrides), "abort", grid)
    first, second = _rows(run)
    assert first["aborted"] and "threshold" in first["reason"]
    assert not second["aborted"] and second["survivors"] == 3
    # Round 2 trained from the unchanged initial scores: the aborted round released nothing.
    assert second["counts_sha256"] == _expected_counts(run, tmp_path, [0, 1, 2], 2)


def test_a_site_with_a_missing_data_folder_is_named_and_left_out(
    tiny_overrides: dict[str, object], data_root: Path, tmp_path: Path, fake_grid: type
) -> None:
    broken = {
        "partition-id": 2,
        "num-partitions": 3,
        "data-dir": str(tmp_path / "no-such-folder"),
        "state-dir": str(tmp_path / "broken"),
    }
    sites = _sites(tmp_path, data_root)
    del sites[303]
    sites[909] = broken
    notices: list[str] = []

    class Events(SilentEvents):
        def notice(self, text: str) -> None:
            notices.append(text)

    cfg = build_config(
        None,
        {
            **_overrides(tiny_overrides, **{"federation.rounds": 1}),
            "federation.engine": "flower",
            "output.name": "broken",
        },
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = serve(fake_grid(client_app, sites), RunDirectory.create(cfg), Events())
    assert any("909" in n and "no-such-folder" in n for n in notices), notices
    (row,) = _rows(run)
    assert row["participants"] == 3 and row["survivors"] == 2 and not row["aborted"]


def test_a_sites_release_runs_at_the_runs_threads_as_in_process(
    tiny_overrides: dict[str, object], data_root: Path, tmp_path: Path
) -> None:
    """Two sites of a trial release at once, each at the run's threads: a release at torch's
    default (every core) beside another oversubscribes the cores, as it once did."""
    cfg = build_config(None, _overrides(tiny_overrides, **{"training.threads": 1}))
    site = read_site(_sites(tmp_path, data_root)[101], 101)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        _, released = site_release(site, "ab", cfg.model_dump_json(), 0)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    assert released.record.num_releases == 1
    assert ReleaseStore(run_folder(site, "ab")).load(0) is not None  # kept for later rounds


def test_malformed_payloads_are_refused_by_typed_errors() -> None:
    good = pack("share", 3, b"\x01\x02", run_key="ab")
    assert unpack(good, stage="share", round_index=3).data == b"\x01\x02"
    bad = [
        RecordDict({}),
        RecordDict({RECORD: ConfigRecord({"stage": "share", "round": 3})}),
        RecordDict({RECORD: ConfigRecord({"stage": 7, "round": 3, "data": b""})}),
        RecordDict({RECORD: ConfigRecord({"stage": "share", "round": "3", "data": b""})}),
        RecordDict({RECORD: ConfigRecord({"stage": "share", "round": -1, "data": b""})}),
        RecordDict({RECORD: ConfigRecord({"stage": "share", "round": 3, "data": "text"})}),
    ]
    for content in bad:
        with pytest.raises(FlowerPayloadError):
            unpack(content)
    with pytest.raises(FlowerPayloadError, match="stage"):
        unpack(good, stage="masked")
    with pytest.raises(FlowerPayloadError, match="round"):
        unpack(good, round_index=4)


def test_a_site_refuses_a_session_its_server_marks_insecure(tmp_path: Path) -> None:
    site = read_site({"partition-id": 0, "num-partitions": 3, "state-dir": str(tmp_path / "s")})
    session = SessionParams(threshold=2, bits=2, length=8, clients=3, insecure=True)
    with pytest.raises(SiteError, match="insecure"):
        train_and_advertise(site, "ab", 1, "{}", session.model_dump_json(), b"", 0)
    assert not any((tmp_path / "s").glob("run-*/released/*"))  # refused before any release


@pytest.mark.parametrize(
    ("node", "stage", "how", "survivors"),
    [
        (303, "share", "round", [0, 1]),  # not our record: the ClientApp raises, an error reply
        (202, "masked", "truncate", [0, 2]),  # bad protocol bytes: refused, the site is silent
    ],
)
def test_a_tampered_message_is_refused_and_that_site_drops_out(
    node: int,
    stage: str,
    how: str,
    survivors: list[int],
    tiny_overrides: dict[str, object],
    data_root: Path,
    tmp_path: Path,
    fake_grid: type,
) -> None:
    def tamper(to: int, msg: Message) -> Message:
        record = msg.content.config_records[RECORD]
        if to == node and record["stage"] == stage:
            if how == "round":
                record["round"] = "one"
            else:
                record["data"] = bytes(record["data"])[:-7]
        return msg

    grid = fake_grid(client_app, _sites(tmp_path, data_root), tamper=tamper)
    run = _flower_run(_overrides(tiny_overrides, **{"federation.rounds": 1}), "tamper", grid)
    (row,) = _rows(run)
    assert not row["aborted"] and row["survivors"] == len(survivors)
    assert row["counts_sha256"] == _expected_counts(run, tmp_path, survivors, 1)
    if how == "round":
        assert "FlowerPayloadError" in row["node_errors"][f"{stage}:{NODES[node]}"]


def test_a_restarted_server_resumes_from_its_last_checkpoint(
    tiny_overrides: dict[str, object], data_root: Path, tmp_path: Path, fake_grid: type
) -> None:
    overrides = _overrides(tiny_overrides)
    whole = _flower_run(
        overrides, "whole", fake_grid(client_app, _sites(tmp_path / "a", data_root))
    )

    class Crash(Exception):
        pass

    def crash(node: int, stage: str, rnd: int) -> bool:
        if rnd == 2:
            raise Crash
        return False

    sites = _sites(tmp_path / "b", data_root)
    with pytest.raises(Crash):
        _flower_run(overrides, "cut", fake_grid(client_app, sites, silent=crash))
    cut = Path(str(overrides["output.runs_dir"])) / "cut"
    assert [r["round"] for r in _rows(cut)] == [1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        serve(fake_grid(client_app, sites), RunDirectory.open(cut), SilentEvents())
    assert (cut / "model.prism").read_bytes() == (whole / "model.prism").read_bytes()
    ledger = json.loads((cut / "privacy.json").read_text())
    assert ledger["releases_per_client"] == 1  # the sites reused their one release
