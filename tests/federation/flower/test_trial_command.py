"""The one-machine trial as users start it: ``prism-secure train --engine flower --supernodes N``.

A real CLI process starts a SuperLink and N SuperNodes on loopback; Ctrl-C stops every process it
started, and ``--resume`` (no engine flag: the run's own) finishes the run on Flower again, each
site reusing the release it made before the interruption.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from prism_secure.app import train_run
from prism_secure.artifacts.rundir import RunDirectory
from prism_secure.config import build_config
from prism_secure.errors import RunDirError
from prism_secure.protocols.adapters.flower.processes import processes_mentioning

pytest.importorskip("flwr")
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
CLI = [sys.executable, "-m", "prism_secure.cli.app", "train", "--quiet"]


def _ctrl_c_as_at_a_terminal() -> None:  # pragma: no cover - runs in the child before exec
    # A job started in the background of a script (as CI may be) inherits SIGINT ignored, and
    # Python then installs no KeyboardInterrupt handler; a user's terminal delivers it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_the_trial_stops_every_process_on_ctrl_c_and_resumes_to_the_end(
    tiny_overrides: dict[str, object],
    tmp_path: Path,
    write_run_toml: Callable[[Path, dict[str, object]], Path],
) -> None:
    # One round: the rounds themselves are the process tests' (test_flower_processes.py).
    overrides = {**tiny_overrides, "federation.rounds": 1, "training.threads": 1}
    toml = write_run_toml(tmp_path / "run.toml", overrides)
    run = Path(str(overrides["output.runs_dir"])) / str(overrides["output.name"])
    trial = subprocess.Popen(
        [*CLI, "--config", str(toml), "--engine", "flower", "--supernodes", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=_ctrl_c_as_at_a_terminal,
    )
    releases = run / "sites"
    try:
        deadline = time.monotonic() + 300
        while len(list(releases.glob("site-*/run-*/released/client_*.pt"))) < 3:
            assert trial.poll() is None, trial.communicate()[1].decode()[-3000:]
            assert time.monotonic() < deadline, "the sites never made their releases"
            time.sleep(0.1)
        assert processes_mentioning(str(run / "flower"))  # its SuperLink and SuperNodes
        trial.send_signal(signal.SIGINT)  # Ctrl-C, after the releases, before any checkpoint
        _, err = trial.communicate(timeout=120)
    finally:
        trial.kill()
        trial.wait()
    assert trial.returncode == 130, err.decode()[-3000:]
    assert processes_mentioning(str(run / "flower")) == []
    assert not (run / "model.prism").exists()
    released = {p: p.read_bytes() for p in releases.glob("site-*/run-*/released/*.pt")}

    resumed = subprocess.run(
        [*CLI, "--resume", str(run)], capture_output=True, text=True, timeout=600
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["round"] for r in rows] == [1] and rows[0]["survivors"] == 3
    assert (run / "model.prism").is_file() and (run / "summary.json").is_file()
    ledger = json.loads((run / "privacy.json").read_text())
    assert ledger["releases_per_client"] == 1 and ledger["epsilon"] <= 8.0  # the sites kept theirs
    assert {p: p.read_bytes() for p in releases.glob("site-*/run-*/released/*.pt")} == released
    assert processes_mentioning(str(run / "flower")) == []


def test_a_flower_run_is_not_resumed_in_process(tiny_overrides: dict[str, object]) -> None:
    # In-process, this process would release every client's data anew: a second release each.
    cfg = build_config(None, {**tiny_overrides, "federation.engine": "flower"})
    run = RunDirectory.create(cfg)
    with pytest.raises(RunDirError, match="trained on the flower engine"):
        train_run(build_config(None, tiny_overrides), resume=run.path)
    assert not (run.path / "released").exists() and not run.privacy_path.exists()
