"""Runs on a SuperLink through the ``flwr`` CLI: submit an app, read its status, wait for it.

:class:`FlowerControl` needs only where Flower's executables are and an environment whose
``FLWR_HOME`` holds the connection (``config.toml``); the loopback federation is one.
"""

from __future__ import annotations

import json
import subprocess
import time
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prism_secure.protocols.adapters.flower.control_api import (
    ControlApiError,
    run_status,
    start_run,
)
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
        """Start a run of the app in ``app_dir``; its run id. Asked in this process where the
        connection allows it (:func:`.control_api.start_run`), else through ``flwr run``."""
        config_file = self.workdir / f"run-config-{time.monotonic_ns()}.toml"
        config_file.write_text(toml_lines(run_config))
        connection = self._connection()
        if connection is not None:
            try:
                return str(start_run(connection[0], app_dir, _flat(config_file), connection[1]))
            except ControlApiError:
                pass  # one that asks for an account, say: Flower's CLI has its login
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
        """``(status, details)``: from the Control API directly where the connection allows it
        (:mod:`.control_api`), else from ``flwr ls``."""
        direct = self._direct_status(run_id)
        if direct is not None:
            return direct
        done = self.flwr("ls", self.connection, "--run-id", run_id, "--format", "json")
        try:
            run = json.loads(done.stdout[done.stdout.index("{") :])["runs"][0]
        except (ValueError, KeyError, IndexError):
            return "unknown", done.stdout + done.stderr
        return str(run.get("status", "unknown")), str(run.get("status-details", ""))

    def _connection(self) -> tuple[str, Path | None] | None:
        """The connection's Control API address and CA certificate, as ``flwr`` reads them from
        ``FLWR_HOME/config.toml``; ``None`` if it is not there."""
        try:
            config = tomllib.loads((Path(self._env["FLWR_HOME"]) / "config.toml").read_text())
            connection = config["superlink"][self.connection]
            address = str(connection["address"])
        except (OSError, KeyError, TypeError, ValueError):
            return None
        ca = connection.get("root-certificates")
        return address, Path(ca) if ca else None

    def _direct_status(self, run_id: str) -> tuple[str, str] | None:
        """The status asked in this process over the connection's own address and certificate;
        ``None`` if the connection is not in the config or the SuperLink did not answer so."""
        connection = self._connection()
        if connection is None:
            return None
        status = run_status(connection[0], run_id, connection[1])
        return None if status[0] == "unknown" else status

    def wait(
        self,
        run_id: str,
        timeout: float,
        poll: float = 5.0,
        sign: Path | None = None,
        log: bool = True,
    ) -> RunOutcome:
        """Block until the run finishes (or ``timeout`` passes, then stop it).

        A status query through ``flwr`` starts a CLI process (about 1.3 CPU-seconds; one asked
        from this process costs milliseconds), so it is asked every ``poll`` seconds. With a
        ``sign`` (a file the app writes as it ends) the wait doubles after each query, up to
        ``LONGEST_STATUS_WAIT``, since the sign says when to ask: the queries then only catch a
        run that died without writing it. Once the sign exists, the status is asked every 0.2 s.
        The run's log is fetched (a ``flwr`` process) with ``log``, and always for a run that did
        not complete.
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
                time.sleep(0.2)
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


def _flat(config_file: Path) -> dict[str, Any]:
    """A run-config file as ``flwr run --run-config FILE`` reads it (Flower's own parser)."""
    from flwr.common.config import parse_config_args

    return parse_config_args([str(config_file)])


def connection_toml(name: str, port: int, ca: Path | None = None) -> str:
    """Flower's CLI config naming one connection, the default: a SuperLink on loopback at
    ``port``, over TLS from ``ca`` (or without TLS)."""
    lines = ["[superlink]", f'default = "{name}"', "", f"[superlink.{name}]"]
    lines.append(f'address = "127.0.0.1:{port}"')
    if ca is not None:
        lines.append(f"root-certificates = {json.dumps(str(ca))}")
    else:
        lines.append("insecure = true")
    return "\n".join(lines) + "\n"


def toml_lines(values: Mapping[str, object]) -> str:
    return "".join(f"{json.dumps(k)} = {_toml_value(v)}\n" for k, v in values.items())


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))
