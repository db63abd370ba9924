"""What the DP guarantee covers must be true of what a run writes.

Each test is named for a leak it closes: an exact record count in a covered file, a mechanism
parameter that moves with the private count, a data-dependent refusal, a second release on
resume, one noise vector shared by every client, per-round figures read from client records.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from prism_secure.app import train_run
from prism_secure.artifacts.released import ReleaseStore
from prism_secure.config import PrivacyConfig, build_config
from prism_secure.privacy import (
    calibrate_noise,
    moment_sums,
    release_statistics,
    resolve_delta,
    spent_epsilon,
)

#: Timing fields measure the machine, not the records; they are left out of equality checks.
TIMING = ("seconds", "secagg_seconds", "secagg_server_seconds", "train_seconds", "wall_seconds")


def _strip_timing(record: dict) -> dict:
    return {k: v for k, v in record.items() if k not in TIMING}


def test_ledger_record_is_the_same_for_neighbouring_clients_and_holds_no_count() -> None:
    cfg = PrivacyConfig(noise_seed=5, max_records=5000)
    records = torch.randn(400, 16)
    big = release_statistics(records, cfg=cfg).record
    small = release_statistics(records[:-1], cfg=cfg).record
    assert big == small
    assert not {"num_records", "released_count"} & set(big.model_dump())


def test_delta_and_noise_come_from_the_public_bound_not_the_count() -> None:
    cfg = PrivacyConfig(noise_seed=0, max_records=60_000)
    # Under the old rule min(1e-5, 1/(10 n)) these two clients published their sizes in delta.
    a = release_statistics(torch.randn(20_000, 2), cfg=cfg).record
    b = release_statistics(torch.randn(30_000, 2), cfg=cfg).record
    assert a.delta == b.delta == resolve_delta(None, 60_000) == pytest.approx(1 / 600_000)
    assert a.noise_multiplier == b.noise_multiplier == calibrate_noise(8.0, a.delta)


def test_a_client_with_few_records_is_not_refused() -> None:
    cfg = PrivacyConfig(noise_seed=1, max_records=100)
    for n in (0, 1, 9):
        out = release_statistics(torch.randn(n, 4), cfg=cfg)
        assert out.record == release_statistics(torch.randn(50, 4), cfg=cfg).record
        assert torch.isfinite(out.mean).all() and (out.var >= 0).all()


def test_a_client_above_the_bound_is_truncated_to_it() -> None:
    cfg = PrivacyConfig(noise_seed=2, max_records=100)
    x = torch.randn(150, 6)
    truncated = release_statistics(x, cfg=cfg)
    first = release_statistics(x[:100], cfg=cfg)
    assert torch.equal(truncated.feature_sum, first.feature_sum)
    assert truncated.released_count == first.released_count


def test_seeded_noise_gives_every_client_its_own_stream() -> None:
    cfg = PrivacyConfig(noise_seed=3, max_records=1000)
    x = torch.randn(200, 8, dtype=torch.float64)
    exact = moment_sums(x, cfg.clip_norm).feature_sum
    noise = [release_statistics(x, cfg=cfg, stream=c).feature_sum - exact for c in (0, 1, 2)]
    assert not torch.allclose(noise[0], noise[1]) and not torch.allclose(noise[1], noise[2])
    again = release_statistics(x, cfg=cfg, stream=1).feature_sum - exact
    assert torch.equal(again, noise[1])  # still reproducible from the seed


def test_clients_with_a_noise_seed_get_different_noise_in_a_run(
    tiny_overrides: dict[str, object], data_root: Path
) -> None:
    # A class neither of two clients holds is released as pure noise by both: with one noise
    # vector shared by every client, its released count and mean would be equal at both.
    from torchvision.datasets import MNIST

    cfg = build_config(None, {**tiny_overrides, "privacy.noise_seed": 11, "federation.rounds": 1})
    run = train_run(cfg)
    labels = MNIST(str(data_root), train=True, download=False).targets
    members = json.loads((run / "membership.json").read_text())["clients"]
    held = {int(c): set(labels[rows].tolist()) for c, rows in members.items()}
    store = ReleaseStore(run)
    for a, b in ((0, 1), (1, 2), (0, 2)):
        absent = sorted(set(range(10)) - held[a] - held[b])
        assert absent, "the shard split leaves every pair of clients some class neither holds"
        ra, rb = store.load(a), store.load(b)
        assert ra is not None and rb is not None
        assert not torch.allclose(ra.released_counts[absent], rb.released_counts[absent])
        assert not torch.allclose(ra.mean[absent], rb.mean[absent])


def _covered(run: Path) -> dict[str, object]:
    summary = json.loads((run / "summary.json").read_text())
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return {
        "privacy.json": (run / "privacy.json").read_bytes(),
        "summary keys": sorted(summary),
        "metrics keys": [sorted(m) for m in metrics],
        "metrics public": [
            {k: m[k] for k in ("round", "participants", "dropped", "survivors", "aborted")}
            | {"bytes": (m["bytes_up_per_client"], m["bytes_down_per_client"])}
            for m in metrics
        ],
        "model size": (run / "model.prism").stat().st_size,
        "files": sorted(str(p.relative_to(run)) for p in run.rglob("*") if p.is_file()),
    }


def test_neighbouring_datasets_give_identical_covered_files_up_to_released_values(
    tiny_overrides: dict[str, object],
) -> None:
    base = {**tiny_overrides, "privacy.noise_seed": 4, "privacy.max_records": 200}
    big = train_run(build_config(None, {**base, "output.name": "big"}))
    small = train_run(
        build_config(None, {**base, "output.name": "small", "data.max_records_per_client": 119}),
    )
    # Neighbouring: every client of the small run holds its big-run records minus exactly one.
    a = json.loads((big / "membership.json").read_text())["clients"]
    b = json.loads((small / "membership.json").read_text())["clients"]
    for cid in a:
        assert set(b[cid]) < set(a[cid]) and len(a[cid]) - len(b[cid]) == 1
    # The ledger holds public parameters only: byte for byte the same.
    assert _covered(big) == _covered(small)
    cfg_a = json.loads((big / "config.json").read_text())
    cfg_b = json.loads((small / "config.json").read_text())
    cfg_a["data"].pop("max_records_per_client")
    cfg_b["data"].pop("max_records_per_client")
    cfg_a["output"].pop("name")
    cfg_b["output"].pop("name")
    assert cfg_a == cfg_b
    # No client's true count appears in a covered JSON file (config.json states the public cap).
    for name in ("privacy.json", "summary.json", "metrics.jsonl"):
        text = (small / name).read_text()
        assert f": {len(b['0'])}," not in text and f": {len(b['0'])}\n" not in text, name
    checkpoint = torch.load(small / "checkpoints/latest.pt", weights_only=True)
    assert set(checkpoint) == {"round", "scores", "server_rng", "totals"}


def test_covered_files_depend_on_records_only_through_the_release(
    tiny_overrides: dict[str, object],
) -> None:
    """Give a neighbouring run the first run's release: every covered file is then identical."""
    base = {**tiny_overrides, "privacy.noise_seed": 4, "privacy.max_records": 200}
    first = train_run(build_config(None, {**base, "output.name": "first"}))
    cfg = build_config(None, {**base, "output.name": "second", "data.max_records_per_client": 119})
    second = Path(cfg.output.runs_dir) / "second"
    second.mkdir(parents=True)
    (second / "config.json").write_text(cfg.model_dump_json(indent=2))
    (second / "checkpoints").mkdir()
    (second / "samples").mkdir()
    for src in (first / "released").iterdir():
        (second / "released").mkdir(exist_ok=True)
        (second / "released" / src.name).write_bytes(src.read_bytes())
    (second / "membership.json").write_text((first / "membership.json").read_text())
    train_run(cfg, resume=second)
    for name in ("privacy.json", "model.prism", "training_curves.png", "samples/final.png"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    rows = [
        [
            _strip_timing(json.loads(line))
            for line in (run / "metrics.jsonl").read_text().splitlines()
        ]
        for run in (first, second)
    ]
    assert rows[0] == rows[1]


def _train_process(cfg_path: Path, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "prism_secure.cli.app", "train", "--config", str(cfg_path)]
    return subprocess.Popen(
        [*cmd, "--quiet", *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def test_a_run_killed_between_release_and_first_checkpoint_does_not_release_again(
    tiny_overrides: dict[str, object],
    tmp_path: Path,
    write_run_toml: Callable[[Path, dict[str, object]], Path],
) -> None:
    # Unseeded noise: a second release would draw fresh noise and spend the budget twice.
    overrides = {**tiny_overrides, "federation.rounds": 1, "training.local_iters": 60}
    cfg_path = write_run_toml(tmp_path / "run.toml", overrides)
    run = Path(str(overrides["output.runs_dir"])) / str(overrides["output.name"])
    proc = _train_process(cfg_path)
    try:
        deadline = time.monotonic() + 120
        while not (run / "privacy.json").exists():
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "the run never wrote its ledger"
            time.sleep(0.01)
        assert not (run / "checkpoints" / "latest.pt").exists(), "killed too late"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    released = {p.name: p.read_bytes() for p in (run / "released").iterdir()}
    assert len(released) == 3
    ledger_before = (run / "privacy.json").read_bytes()

    resumed = _train_process(cfg_path, "--resume", str(run))
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err.decode()
    assert {p.name: p.read_bytes() for p in (run / "released").iterdir()} == released
    assert (run / "privacy.json").read_bytes() == ledger_before
    ledger = json.loads(ledger_before)
    assert ledger["releases_per_client"] == 1 and ledger["epsilon"] <= 8.0
    assert "1 Gaussian release per client" in ledger["statement"]
    assert (run / "model.prism").exists()


def test_a_lost_release_is_composed_in_the_ledger(tiny_overrides: dict[str, object]) -> None:
    cfg = build_config(None, {**tiny_overrides, "federation.rounds": 1})
    run = train_run(cfg)
    once = json.loads((run / "privacy.json").read_text())
    ReleaseStore(run).path(0).unlink()
    train_run(cfg, resume=run)
    ledger = json.loads((run / "privacy.json").read_text())
    again = ledger["clients"]["0"]
    z, delta = again["noise_multiplier"], again["delta"]
    assert again["num_releases"] == 2 and ledger["releases_per_client"] == 2
    assert again["epsilon"] == spent_epsilon(z, delta, "rdp", 2) > once["epsilon"]
    assert ledger["epsilon"] == again["epsilon"]
    assert "2 Gaussian releases per client" in ledger["statement"]
    assert ledger["clients"]["1"]["num_releases"] == 1


def test_two_releases_at_the_epsilon_8_noise_are_not_worth_epsilon_8() -> None:
    z = calibrate_noise(8.0, 1e-5)
    # What the old resume path claimed as 8.00: about 11.4 by PRV, 12.2 by RDP.
    assert spent_epsilon(z, 1e-5, "prv", 2) == pytest.approx(11.37, abs=0.05)
    assert spent_epsilon(z, 1e-5, "rdp", 2) == pytest.approx(12.17, abs=0.05)


def test_per_round_tracking_reads_no_client_record(
    tiny_overrides: dict[str, object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("PRISM_SECURE_CACHE", str(cache))
    cfg = build_config(
        None, {**tiny_overrides, "output.track_domain_fid": True, "federation.rounds": 2}
    )
    run = train_run(cfg)
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert isinstance(metrics[-1]["domain_fid"], float)
    metas = [json.loads(p.read_text()) for p in (cache / "domain").glob("*.json")]
    # The only classifier trained is the one on the test split, which no client holds.
    assert [m["spec"]["split"] for m in metas] == ["test"]
