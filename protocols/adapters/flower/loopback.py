"""A Flower deployment on one machine: a SuperLink and N SuperNodes as real processes on loopback.

For trials (``prism-secure train --engine flower --supernodes N``), examples and tests. Every
process it starts, and every process those start (SuperExec, ServerApp, ClientApp), is stopped
in every outcome: normal exit, failure, Ctrl-C, SIGTERM. On Linux the federation makes itself a
child subreaper, so Flower's detached descendants are re-parented to it and can be reaped, and
each child gets SIGTERM if this process dies. Flower's own state (its CLI config, unpacked app
bundles) lives under the federation's work folder (``FLWR_HOME``), never in the user's home.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from prism_secure.protocols.adapters.flower.certificates import (
    TlsFiles,
    make_node_key,
    make_tls_files,
)

CONNECTION = "loopback"
_PR_SET_PDEATHSIG, _PR_SET_CHILD_SUBREAPER = 1, 36


class FederationError(RuntimeError):
    """A process of the local federation failed to start or a run could not be submitted."""


@dataclass(frozen=True)
class RunOutcome:
    """How a run ended: Flower's status (``finished:completed`` on success) and its log."""

    run_id: str
    status: str
    details: str
    log: str
    seconds: float

    @property
    def completed(self) -> bool:
        return self.status == "finished:completed"


def _linux_prctl(option: int, value: int) -> None:
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)


def _child_setup() -> None:  # pragma: no cover - runs in the child before exec
    _linux_prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports (all bound at once, then released)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _descendants(root: int) -> list[int]:
    """Every live process below ``root`` (Linux ``/proc``; empty elsewhere)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_bytes()
            ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        parents.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _launcher_text(target: str) -> str:
    """A file that is both sh and Python (the trick pip uses for long interpreter paths): sh
    re-executes it under this interpreter, Python calls the entry point ``module:attr``."""
    module, _, attr = target.partition(":")
    return (
        "#!/bin/sh\n"
        f"'''exec' {shlex.quote(sys.executable)} \"$0\" \"$@\"\n"
        "' '''\n"
        "import importlib\n"
        "import sys\n"
        f"main = importlib.import_module({module!r})\n"
        f"for part in {attr!r}.split('.'):\n"
        "    main = getattr(main, part)\n"
        "sys.exit(main())\n"
    )


def flower_bin(folder: Path) -> Path:
    """A folder of launchers that run Flower's executables under this very interpreter.

    Flower's processes start each other by name through PATH. The first ``flower-superlink`` on
    PATH may belong to another Python (a pyenv shim, the system's), whose ClientApps would import
    another copy of prism-secure, or none; launchers written from the ``flwr`` distribution's own
    console-script entry points pin every process of the federation to ``sys.executable``.
    """
    try:
        scripts = [
            e for e in metadata.distribution("flwr").entry_points if e.group == "console_scripts"
        ]
    except metadata.PackageNotFoundError:
        raise FederationError(
            "Flower is not installed: pip install 'prism-secure[flower]'"
        ) from None
    folder.mkdir(parents=True, exist_ok=True)
    for entry in scripts:
        launcher = folder / entry.name
        launcher.write_text(_launcher_text(entry.value))
        launcher.chmod(0o755)
    return folder


@dataclass
class _Process:
    name: str
    argv: list[str]
    proc: subprocess.Popen[bytes] | None = None


@dataclass
class LoopbackFederation:
    """A SuperLink and one SuperNode per entry of ``nodes`` (each entry is its node config).

    ``tls`` serves the SuperLink over TLS with a fresh CA; ``auth`` also enrols every SuperNode's
    public key, so that only enrolled nodes can join (``auth`` implies ``tls``).
    """

    workdir: Path
    nodes: Sequence[Mapping[str, object]]
    tls: bool = False
    auth: bool = False
    poll_interval: float = 0.05
    startup_timeout: float = 120.0
    _processes: dict[str, _Process] = field(default_factory=dict, init=False)
    _port: int = field(default=0, init=False)
    _tls_files: TlsFiles | None = field(default=None, init=False)
    _env: dict[str, str] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir)
        self.tls = self.tls or self.auth
        self.home = self.workdir / "flwr-home"
        self.logs = self.workdir / "logs"
        self.bin = flower_bin(self.workdir / "bin")
        self._env = dict(os.environ)
        self._env.update(
            FLWR_HOME=str(self.home),
            PATH=f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}",
            FLWR_TELEMETRY_ENABLED="0",
            FLWR_DISABLE_UPDATE_CHECK="1",
            FLWR_SUPEREXEC_TASK_POLL_INTERVAL=str(self.poll_interval),
            PYTHONUNBUFFERED="1",
        )

    # ---- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> LoopbackFederation:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start the SuperLink, enrol keys if asked, start every SuperNode."""
        _linux_prctl(_PR_SET_CHILD_SUBREAPER, 1)
        self.home.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        if self.tls:
            self._tls_files = make_tls_files(self.workdir / "certificates")
        self._start_superlink()
        ports = free_ports(len(self.nodes))
        for index, config in enumerate(self.nodes):
            self._start_node(index, config, ports[index])

    def stop(self) -> None:
        """Stop everything started, SuperNodes first, then whatever is left below us."""
        live = [p for p in self._processes.values() if p.proc and p.proc.poll() is None]
        ordered = sorted(live, key=lambda p: p.name == "superlink")
        for p in ordered:
            p.proc.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        deadline = time.monotonic() + 8.0
        for p in ordered:
            try:
                p.proc.wait(max(0.1, deadline - time.monotonic()))  # type: ignore[union-attr]
            except subprocess.TimeoutExpired:
                p.proc.kill()  # type: ignore[union-attr]
                p.proc.wait()  # type: ignore[union-attr]
        for _ in range(50):
            rest = _descendants(os.getpid())
            if not rest:
                break
            for pid in rest:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.1)
            _reap()
        _reap()

    # ---- processes -----------------------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        with open(self.logs / f"{name}.log", "ab") as log:
            proc = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._env,
                cwd=self.workdir,
                start_new_session=True,
                preexec_fn=_child_setup,  # only a prctl before exec
            )
        self._processes[name] = _Process(name, argv, proc)
        return proc

    def log_of(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _start_superlink(self, attempts: int = 3) -> None:
        for _ in range(attempts):
            (port,) = free_ports(1)
            argv = [
                str(self.bin / "flower-superlink"),
                "--port",
                str(port),
                "--disable-runtime-dependency-installation",
            ]
            if self._tls_files is not None:
                argv += [
                    "--ssl-ca-certfile",
                    str(self._tls_files.ca),
                    "--ssl-certfile",
                    str(self._tls_files.certificate),
                    "--ssl-keyfile",
                    str(self._tls_files.key),
                ]
            else:
                argv.append("--insecure")
            if self.auth:
                argv.append("--enable-supernode-auth")
            proc = self._spawn("superlink", argv)
            start = time.monotonic()
            while time.monotonic() - start < self.startup_timeout and proc.poll() is None:
                if _port_open(port) and "Uvicorn running" in self.log_of("superlink"):
                    self._port = port
                    self._write_cli_config()
                    return
                time.sleep(0.1)
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        raise FederationError(
            f"flower-superlink did not start; its log:\n{self.log_of('superlink')[-2000:]}"
        )

    def _write_cli_config(self) -> None:
        lines = [
            "[superlink]",
            f'default = "{CONNECTION}"',
            "",
            f"[superlink.{CONNECTION}]",
            f'address = "127.0.0.1:{self._port}"',
        ]
        if self._tls_files is not None:
            lines.append(f"root-certificates = {json.dumps(str(self._tls_files.ca))}")
        else:
            lines.append("insecure = true")
        (self.home / "config.toml").write_text("\n".join(lines) + "\n")

    def _node_argv(self, index: int, config: Mapping[str, object], port: int) -> list[str]:
        config_file = self.workdir / f"node-{index}.toml"
        config_file.write_text(_toml_lines(config))
        argv = [
            str(self.bin / "flower-supernode"),
            "--superlink",
            f"127.0.0.1:{self._port}",
            "--port",
            str(port),
            "--node-config",
            str(config_file),
        ]
        if self._tls_files is not None:
            argv += ["--root-certificates", str(self._tls_files.ca)]
        else:
            argv.append("--insecure")
        if self.auth:
            private, public = make_node_key(self.workdir / "node-keys", f"node-{index}")
            self.flwr("supernode", "register", str(public), CONNECTION, check=True)
            argv += ["--auth-supernode-private-key", str(private)]
        return argv

    def _start_node(self, index: int, config: Mapping[str, object], port: int) -> None:
        self._spawn(f"supernode-{index}", self._node_argv(index, config, port))

    def kill_node(self, index: int) -> None:
        """SIGKILL one SuperNode, as a crash would (its ClientApps notice and exit)."""
        p = self._processes[f"supernode-{index}"]
        if p.proc is not None and p.proc.poll() is None:
            p.proc.kill()
            p.proc.wait()

    def node_pid(self, index: int) -> int:
        proc = self._processes[f"supernode-{index}"].proc
        assert proc is not None
        return proc.pid

    @property
    def superlink_pid(self) -> int:
        proc = self._processes["superlink"].proc
        assert proc is not None
        return proc.pid

    # ---- runs ----------------------------------------------------------------------------------

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
        config_file.write_text(_toml_lines(run_config))
        done = self.flwr(
            "run", str(app_dir), CONNECTION, "--format", "json", "--run-config", str(config_file)
        )
        try:
            payload = json.loads(done.stdout[done.stdout.index("{") :])
        except ValueError:
            payload = {}
        if done.returncode != 0 or not payload.get("run-id"):
            raise FederationError(f"flwr run did not start a run:\n{done.stdout}{done.stderr}")
        return str(payload["run-id"])

    def status(self, run_id: str) -> tuple[str, str]:
        done = self.flwr("ls", CONNECTION, "--run-id", run_id, "--format", "json")
        try:
            run = json.loads(done.stdout[done.stdout.index("{") :])["runs"][0]
        except (ValueError, KeyError, IndexError):
            return "unknown", done.stdout + done.stderr
        return str(run.get("status", "unknown")), str(run.get("status-details", ""))

    def wait(self, run_id: str, timeout: float, poll: float = 5.0) -> RunOutcome:
        """Block until the run finishes (or ``timeout`` passes, then stop it)."""
        start = time.monotonic()
        status, details = "unknown", ""
        while time.monotonic() - start < timeout:
            status, details = self.status(run_id)
            if status.startswith("finished"):
                break
            time.sleep(poll)
        else:
            self.flwr("stop", run_id, CONNECTION)
            status, details = "timed out", f"no end within {timeout:.0f} s; stopped"
        log = self.flwr("log", run_id, CONNECTION, "--show").stdout
        return RunOutcome(run_id, status, details, log, time.monotonic() - start)

    def run(
        self, app_dir: Path, run_config: Mapping[str, object], timeout: float = 3600.0
    ) -> RunOutcome:
        return self.wait(self.submit(app_dir, run_config), timeout)


def _toml_lines(values: Mapping[str, object]) -> str:
    return "".join(f"{json.dumps(k)} = {_toml_value(v)}\n" for k, v in values.items())


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))
