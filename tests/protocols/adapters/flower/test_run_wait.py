"""Waiting for a Flower run: each status query is a CLI process, so a run's sign spares most."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

from prism_secure.protocols.adapters.flower.processes import free_ports
from prism_secure.protocols.adapters.flower.runs import FlowerControl, connection_toml


class _ClockedRun(FlowerControl):
    """A run that ends ``seconds`` after it starts; only the queries this side makes are real."""

    def __init__(self, seconds: float, sign: Path | None) -> None:
        self.connection = "loopback"
        self.queries: list[float] = []
        self.start, self.seconds, self.sign = time.monotonic(), seconds, sign
        if sign is not None:
            threading.Timer(seconds, sign.touch).start()

    def status(self, run_id: str) -> tuple[str, str]:
        now = time.monotonic() - self.start
        self.queries.append(now)
        return ("finished:completed" if now >= self.seconds else "running"), ""

    def flwr(self, *args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(list(args), 0, stdout="the log", stderr="")


def test_without_a_sign_the_status_is_asked_every_poll() -> None:
    run = _ClockedRun(1.0, None)
    outcome = run.wait("1", timeout=30, poll=0.1)
    assert outcome.completed and outcome.log == "the log"
    assert 8 <= len(run.queries) <= 12


def test_awaiting_a_sign_the_waits_double_and_the_end_is_seen_at_once(tmp_path: Path) -> None:
    run = _ClockedRun(1.0, tmp_path / "summary.json")
    outcome = run.wait("1", timeout=30, poll=0.1, sign=tmp_path / "summary.json")
    assert outcome.completed
    # 0, 0.1, 0.3, 0.7 s, then the sign at 1.0 s and one query 0.2 s later
    assert len(run.queries) == 5
    gaps = [b - a for a, b in zip(run.queries, run.queries[1:], strict=False)][:3]
    assert [round(g, 1) for g in gaps] == [0.1, 0.2, 0.4]
    assert run.queries[-1] < 1.0 + 0.5 + 0.3


class _CliOnly(FlowerControl):
    """A connection in Flower's config whose SuperLink does not answer this process; the CLI
    (played here) does."""

    def __init__(self, home: Path) -> None:
        self.connection, self._env, self.calls = "loopback", {"FLWR_HOME": str(home)}, []

    def flwr(self, *args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
        self.calls.append(args)
        out = '{"success": true, "runs": [{"status": "running", "status-details": ""}]}'
        return subprocess.CompletedProcess(list(args), 0, stdout=out, stderr="")


def test_a_status_the_control_api_does_not_give_here_is_asked_through_the_cli(
    tmp_path: Path,
) -> None:
    (port,) = free_ports(1)  # nothing listens there
    control = _CliOnly(tmp_path)
    assert control.status("7") == ("running", "") and len(control.calls) == 1  # no config yet
    (tmp_path / "config.toml").write_text(connection_toml("loopback", port))
    assert control.status("7") == ("running", "") and len(control.calls) == 2
    assert control.calls[-1][:2] == ("ls", "loopback")
