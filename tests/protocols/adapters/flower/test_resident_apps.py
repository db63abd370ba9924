"""Resident ClientApps against a real SuperLink and SuperNode: one process serves a node's tasks,
a task that raises, or whose input is lost, gets Flower's error reply and the next one is served,
and a task that ends its process is followed by a fresh one. Forked ClientApps run in the
adapter example's test."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from prism_secure.protocols.adapters.flower.loopback import LoopbackFederation
from prism_secure.protocols.adapters.flower.processes import alive, processes_mentioning, run_forked
from prism_secure.protocols.adapters.flower.resident_apps import end_with

pytest.importorskip("flwr")
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork and /proc")
APP = Path(__file__).resolve().parent / "resident-probe-app"


def _probe(workdir: Path, resident: bool, actions: str) -> list[dict | None]:
    out = workdir / "replies.json"
    with LoopbackFederation(
        workdir / "federation", [{"partition-id": 0}], warm=["json"], resident=resident
    ) as fed:
        outcome = fed.run(APP, {"out-file": str(out), "actions": actions}, timeout=240, sign=out)
    assert outcome.completed, f"{outcome.status}: {outcome.details}\n{outcome.log[-3000:]}"
    assert processes_mentioning(str(workdir)) == []
    return json.loads(out.read_text())


def test_resident_clientapps_share_a_process_and_survive_failing_tasks(tmp_path: Path) -> None:
    actions = "pid,raise,pid,lose,pid,pid,exit,pid"
    first, raised, second, lost, unpulled, third, exited, fresh = _probe(tmp_path, True, actions)
    assert None not in (first, second, lost, third, fresh)
    assert second["pid"] == first["pid"] and second["tasks"] == 3  # the raising task was one
    assert raised is not None and "the probe was asked to fail" in raised["error"]
    # a task whose input never came is still answered (flwr 1.42's SuperNode waits for a reply
    # to each task: one left unanswered stalls it), and the process takes the next task
    assert unpulled is not None and "the probe lost the answer" in unpulled["error"]
    assert third["pid"] == first["pid"] and third["tasks"] == 5  # the lost task ran no app
    assert exited is None or "error" in exited  # no answer from a task that ended its process
    assert fresh["pid"] != first["pid"] and fresh["tasks"] == 1  # a fresh loop took over


def _sleep_watching(pid: int) -> None:
    end_with(pid, every=0.05)
    time.sleep(60)  # a long training, say


def test_a_resident_loop_ends_soon_after_its_supernode_whatever_it_is_doing() -> None:
    node = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    loop = run_forked(_sleep_watching, node.pid)
    try:
        time.sleep(0.5)
        assert alive(loop), "it ended while its SuperNode lived"
        node.kill()
        node.wait()
        deadline = time.monotonic() + 10
        while not os.waitpid(loop, os.WNOHANG)[0]:
            assert time.monotonic() < deadline, "it trained on for a dead SuperNode"
            time.sleep(0.05)
    finally:
        node.kill()
        if alive(loop):
            os.kill(loop, signal.SIGKILL)
            os.waitpid(loop, 0)
