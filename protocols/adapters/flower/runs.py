"""Runs on a SuperLink through the ``flwr`` CLI: submit an app, read its status, wait for it.

:class:`FlowerControl` needs only where Flower's executables are and an environment whose
``FLWR_HOME`` holds the connection (``config.toml``); the loopback federation is one.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from prism_secure.protocols.adapters.flower.processes import FederationError


@dataclass(frozen=True)
class RunOutcome:
    """How a run ended: Flower's status (``finished:completed`` on success) and its log (empty
    for a completed run whose log was not asked for)."""

    run_id: str
    status: str
    details: str
    log: str
    seconds: float

    @property
    def completed(self) -> bool:
        return self.status == "finished:completed"


LONGEST_STATUS_WAIT = 30.0  # seconds between status queries while a run's sign is awaited


class FlowerControl:
    """The ``flwr`` CLI against one connection (``connection`` in ``FLWR_HOME/config.toml``)."""

    connection: str
    bin: Path
    workdir: Path
    _env: dict[str, str]

    def flwr(
        self, *args: str, timeout: float = 120.0, check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """Run the ``flwr`` CLI against this federation."""
        done = subprocess.run(
            [str(self.bin / "flwr"), *args],
            env=self._env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and done.returncode != 0:
            raise FederationError(f"flwr {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
        return done

    def submit(self, app_dir: Path, run_config: Mapping[str, object]) -> str:
        """Start a run of the app in ``app_dir``; its run id."""
        config_file = self.workdir / f"run-config-{time.monotonic_ns()}.toml"
        config_file.write_text(toml_lines(run_config))
        done = self.flwr(
            "run",
            str(app_dir),
            self.connection,
            "--format",
            "json",
            "--run-config",
            str(config_file),
        )
        try:
            payload = json.loads(done.stdout[done.stdout.index("{") :])
        except ValueError:
            payload = {}
        if done.returncode != 0 or not payload.get("run-id"):
            raise FederationError(f"flwr run did not start a run:\n{done.stdout}{done.stderr}")
        return str(payload["run-id"])

    def status(self, run_id: str) -> tuple[str, str]:
        done = self.flwr("ls", self.connection, "--run-id", run_id, "--format", "json")
        try:
            run = json.loads(done.stdout[done.stdout.index("{") :])["runs"][0]
        except (ValueError, KeyError, IndexError):
            return "unknown", done.stdout + done.stderr
        return str(run.get("status", "unknown")), str(run.get("status-details", ""))

    def wait(
        self,
        run_id: str,
        timeout: float,
        poll: float = 5.0,
        sign: Path | None = None,
        log: bool = True,
    ) -> RunOutcome:
        """Block until the run finishes (or ``timeout`` passes, then stop it).

        Each status query starts a ``flwr`` CLI process (about 1.3 CPU-seconds), so it is asked
        every ``poll`` seconds. With a ``sign`` (a file the app writes as it ends) the wait
        doubles after each query, up to ``LONGEST_STATUS_WAIT``, since the sign says when to ask:
        the queries then only catch a run that died without writing it. Once the sign exists,
        the status is asked every half second. The run's log is fetched (one more such process)
        with ``log``, and always for a run that did not complete.
        """

        def ending() -> bool:
            return sign is not None and sign.exists()

        start = time.monotonic()
        status, details, interval = "unknown", "", poll
        while time.monotonic() - start < timeout:
            status, details = self.status(run_id)
            if status.startswith("finished"):
                break
            next_ask = time.monotonic() + interval
            while time.monotonic() < next_ask and not ending():
                time.sleep(0.1)
            if ending():
                time.sleep(0.5)
            elif sign is not None:
                interval = min(2 * interval, max(poll, LONGEST_STATUS_WAIT))
        else:
            self.flwr("stop", run_id, self.connection)
            status, details = "timed out", f"no end within {timeout:.0f} s; stopped"
        text = ""
        if log or status != "finished:completed":
            text = self.flwr("log", run_id, self.connection, "--show").stdout
        return RunOutcome(run_id, status, details, text, time.monotonic() - start)

    def run(
        self,
        app_dir: Path,
        run_config: Mapping[str, object],
        timeout: float = 3600.0,
        sign: Path | None = None,
    ) -> RunOutcome:
        return self.wait(self.submit(app_dir, run_config), timeout, sign=sign)


def toml_lines(values: Mapping[str, object]) -> str:
    return "".join(f"{json.dumps(k)} = {_toml_value(v)}\n" for k, v in values.items())


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))
