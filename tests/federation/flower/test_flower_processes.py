"""PRISM on Flower's deployment engine with real processes on loopback.

One federation for the module: a SuperLink with TLS and SuperNode authentication (certificates
and keys made here), three enrolled SuperNodes, and a fourth whose data folder does not exist,
served by the warm SuperExec the one-machine trial uses. Every process is stopped when the module
ends, whatever happened.
"""

from __future__ import annotations

import json
import time
import tomllib
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from prism_secure.app import train_run
from prism_secure.config import build_config
from prism_secure.federation.flower.local import APP_DIR, WARM_MODULES
from prism_secure.protocols.adapters.flower.control_api import run_status, start_run
from prism_secure.protocols.adapters.flower.loopback import LoopbackFederation
from prism_secure.protocols.adapters.flower.processes import descendants

SITES = 3


@pytest.fixture(scope="module")
def federation(
    tmp_path_factory: pytest.TempPathFactory, data_root: Path
) -> Iterator[LoopbackFederation]:
    work = tmp_path_factory.mktemp("flower")
    nodes: list[dict[str, object]] = [
        {
            "partition-id": i,
            "num-partitions": SITES,
            "data-dir": str(data_root),
            "state-dir": str(work / f"site-{i}"),
            "train-slots": 2,  # as the one-machine trial does on two cores
            "train-slots-dir": str(work / "train-slots"),
        }
        for i in range(SITES)
    ]
    nodes.append({**nodes[1], "data-dir": str(work / "missing-data"), "state-dir": str(work / "x")})
    fed = LoopbackFederation(work / "federation", nodes, auth=True, warm=WARM_MODULES)
    with fed:
        yield fed
    assert descendants(fed.superlink_pid) == []


def _tiny(tiny_overrides: dict[str, object], **more: object) -> dict[str, object]:
    # The run directory comes from the run config; no per-round domain FID (its classifier is
    # trained on first use, a minute or two inside the ServerApp with a fresh cache).
    out = {k: v for k, v in tiny_overrides.items() if k not in ("output.runs_dir", "output.name")}
    out.update(
        {
            "federation.rounds": 2,
            "privacy.noise_seed": 9,
            "training.threads": 1,
            "flower.train_timeout": 120.0,
            "flower.phase_timeout": 60.0,
            "flower.startup_timeout": 120.0,
            **more,
        }
    )
    return out


def test_flower_run_with_tls_and_auth_equals_the_in_process_run(
    federation: LoopbackFederation,
    tiny_overrides: dict[str, object],
    tmp_path: Path,
    write_run_toml: Callable[[Path, dict[str, object]], Path],
) -> None:
    overrides = _tiny(tiny_overrides)
    toml = write_run_toml(tmp_path / "run.toml", overrides)
    run_dir = tmp_path / "runs" / "on-flower"
    run_config = {"run-dir": str(run_dir), "config": str(toml)}
    outcome = federation.run(APP_DIR, run_config, 600, sign=run_dir / "summary.json")
    assert outcome.completed, outcome.log[-3000:]
    # The status came from the Control API over TLS, asked from here, as `flwr ls` gives it.
    link = tomllib.loads((federation.home / "config.toml").read_text())["superlink"]["loopback"]
    ca = Path(link["root-certificates"])
    assert run_status(link["address"], outcome.run_id, ca)[0] == "finished:completed"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        local = train_run(
            build_config(
                None,
                {**overrides, "output.runs_dir": str(tmp_path / "runs"), "output.name": "local"},
            )
        )
    assert (run_dir / "model.prism").read_bytes() == (local / "model.prism").read_bytes()
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["survivors"] for r in rows] == [SITES, SITES]
    assert all(r["flower_bytes_down_per_client"] > 0 for r in rows)
    # The fourth SuperNode named itself and its missing folder, and the run went on.
    assert "missing-data" in outcome.log and "cannot take part" in outcome.log
    # The SuperNodes were forked from one process, the ServerApp (over TLS) and the ClientApps
    # by the warm SuperExec.
    forked = set(descendants(federation.pids()["supernodes"]))
    assert {federation.node_pid(i) for i in range(SITES + 1)} <= forked
    warm_log = federation.log_of("warm-superexec")
    assert "Loading ClientApp `prism_secure.federation.flower.client_app:app`" in warm_log
    assert "load ServerApp `prism_secure.federation.flower.server_app:app`" in warm_log


UNAVAILABLE = "Node Unavailable"  # the SuperLink: no heartbeat within 2 intervals
HALF_SENT = "Reply message objects are unavailable"  # a reply whose upload never finished


def _state_file(federation: LoopbackFederation, site: int, round_index: int) -> list[Path]:
    folder = federation.workdir.parent / f"site-{site}"
    return list(folder.glob(f"run-*/secagg-round-{round_index:06d}.state"))


def test_killed_supernodes_drop_out_and_below_t_the_round_aborts(
    federation: LoopbackFederation,
    tiny_overrides: dict[str, object],
    tmp_path: Path,
    write_run_toml: Callable[[Path, dict[str, object]], Path],
) -> None:
    # The SuperNodes declare 10 s heartbeats, so the SuperLink reports a killed one unavailable
    # within 20 s of the kill and each exchange still expecting it ends then. The deadlines run
    # from an exchange's start and a kill can come late in a training exchange (a site is killed
    # once it has trained), so they leave room for a slow training plus those 20 s: no live site
    # is lost to them on a slow machine. Only a site killed while it uploads a reply is found by
    # one: its reply is in, its objects never come, and the pull ends at the deadline.
    overrides = _tiny(
        tiny_overrides,
        **{"federation.rounds": 3, "flower.train_timeout": 90.0, "flower.phase_timeout": 30.0},
    )
    toml = write_run_toml(tmp_path / "run.toml", overrides)
    run_dir = tmp_path / "runs" / "kills"
    # Started over the Control API from this process, with TLS, as the federation's submit does.
    link = tomllib.loads((federation.home / "config.toml").read_text())["superlink"]["loopback"]
    run_config = {"run-dir": str(run_dir), "config": str(toml)}
    run_id = str(start_run(link["address"], APP_DIR, run_config, Path(link["root-certificates"])))
    # Kill site 0 once it holds round 1's protocol state (it trained and advertised keys), as a
    # crash would; then stop site 1 in round 2 as its operator would (SIGTERM: it tells the
    # SuperLink it leaves): 2 of 3 remain in round 1 (t = 2), 1 of 3 in round 2.
    for site, round_index in ((0, 1), (1, 2)):
        deadline = time.monotonic() + 300
        while not _state_file(federation, site, round_index):
            assert time.monotonic() < deadline, f"site {site} never reached round {round_index}"
            time.sleep(0.2)
        # A second later its training reply is uploaded. A kill during that upload would cost
        # the training deadline (90 s: the reply is in, its objects never come); one during a
        # later phase's upload costs that phase's (30 s).
        time.sleep(1.0)
        federation.kill_node(site, graceful=site == 1)
    assert {"supernode-0", "supernode-1"}.isdisjoint(federation.pids())
    assert {"superlink", "supernode-2", "warm-superexec"} <= set(federation.pids())
    outcome = federation.wait(run_id, 600, poll=3.0, sign=run_dir / "summary.json")
    assert outcome.completed, outcome.log[-3000:]
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    first, second, third = rows
    assert not first["aborted"] and first["survivors"] == 2
    assert second["aborted"] and third["aborted"]  # the run went on; each round released nothing

    def reported_gone(row: dict[str, object], site: int, *, lost: bool = False) -> set[str]:
        errors: dict[str, str] = row["node_errors"]  # type: ignore[assignment]
        signs = (UNAVAILABLE, HALF_SENT) if lost else (UNAVAILABLE,)
        mine = {k: v for k, v in errors.items() if k.endswith(f":{site}")}
        return {k for k, v in mine.items() if any(sign in v for sign in signs)}

    # Each kill was reported by Flower: the SuperLink's "unavailable", or, for a site killed while
    # it uploaded a reply, the reply's objects missing when the phase's deadline came.
    assert reported_gone(first, 0, lost=True) and reported_gone(second, 1, lost=True)
    # The stopped site said it left: the phase that found it gone did not wait for heartbeats
    # (unless the stop cut an upload short, which the phase's deadline finds).
    for key in reported_gone(second, 1):
        assert second["phase_seconds"][key.split(":")[0]] < 10.0, second["phase_seconds"]
    assert reported_gone(second, 0) == {"train:0"}  # gone before round 2 began
    assert reported_gone(third, 0) == {"train:0"} and reported_gone(third, 1) == {"train:1"}
    assert (run_dir / "model.prism").exists()
