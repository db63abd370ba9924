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
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from prism_secure.protocols.adapters.flower.certificates import (
    TlsFiles,
    make_node_key,
    make_tls_files,
)
from prism_secure.protocols.adapters.flower.control_api import register_node
from prism_secure.protocols.adapters.flower.forked_supernodes import Forker, ForkSpec, NodeSpec
from prism_secure.protocols.adapters.flower.heartbeat import for_federation
from prism_secure.protocols.adapters.flower.processes import (
    PR_SET_CHILD_SUBREAPER,
    FederationError,
    child_setup,
    descendants,
    flower_bin,
    free_ports,
    linux_prctl,
    port_open,
    reap,
)
from prism_secure.protocols.adapters.flower.prompt_supernode import LONGEST_WAIT
from prism_secure.protocols.adapters.flower.runs import (
    FlowerControl,
    connection_toml,
    toml_lines,
)
from prism_secure.protocols.adapters.flower.started import Started
from prism_secure.protocols.adapters.flower.warm_superexec import ForkedWarm, Peers, WarmNode

CONNECTION = "loopback"
PEERS = "warm-peers.json"  # whom the warm SuperExec serves, written once they run


@dataclass
class LoopbackFederation(FlowerControl):
    """A SuperLink and one SuperNode per entry of ``nodes`` (each entry is its node config).

    ``tls`` serves the SuperLink over TLS with a fresh CA; ``auth`` also enrols every SuperNode's
    public key, so that only enrolled nodes can join (``auth`` implies ``tls``). ``warm`` names
    modules for one warm SuperExec to import once and fork every ClientApp from
    (:mod:`~prism_secure.protocols.adapters.flower.warm_superexec`), and with ``warm_server``
    (the default) the run's ServerApp too, and with ``resident`` (the default) it runs each
    node's ClientApp tasks one after another in one process for that node instead of forking
    one per task (:mod:`~prism_secure.protocols.adapters.flower.resident_apps`); ``prewarmed``,
    one this process forked (``forked_early``), serves instead of a fresh one. ``None`` keeps
    Flower's own SuperExecs, which start a fresh interpreter for every message. ``idle_wait``
    runs each SuperNode as Flower's own with its fixed 3 s wait between empty pulls replaced by
    waits from 0.05 s after a message up to that many seconds
    (:mod:`~prism_secure.protocols.adapters.flower.prompt_supernode`), declaring a heartbeat
    every ``heartbeat`` seconds (a killed node is reported within twice that; by default
    :func:`~prism_secure.protocols.adapters.flower.heartbeat.for_federation`); ``idle_wait=None``
    starts ``flower-supernode`` itself. ``fork`` starts the prompter SuperNodes from one process
    that has imported Flower once
    (:mod:`~prism_secure.protocols.adapters.flower.forked_supernodes`).
    """

    workdir: Path
    nodes: Sequence[Mapping[str, object]]
    tls: bool = False
    auth: bool = False
    poll_interval: float = 0.5  # SuperExecs' task polls: each one is a request to a node
    startup_timeout: float = 120.0
    warm: Sequence[str] | None = None
    warm_server: bool = True  # with warm: the ServerApp forked by the warm SuperExec too
    resident: bool = True  # with warm: each node's ClientApps run in one process (resident_apps)
    prewarmed: ForkedWarm | None = None  # with warm: a warm SuperExec already forked
    idle_wait: float | None = LONGEST_WAIT  # a SuperNode's longest idle wait; None: Flower's 3 s
    heartbeat: float | None = None  # a prompter SuperNode's interval; None: for_federation(N)
    fork: bool = True  # prompter SuperNodes forked from one process (not with idle_wait None)
    _processes: dict[str, Started] = field(default_factory=dict, init=False)
    _port: int = field(default=0, init=False)
    _tls_files: TlsFiles | None = field(default=None, init=False)
    _env: dict[str, str] = field(default_factory=dict, init=False)
    _forker: Forker | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.connection = CONNECTION
        self.workdir = Path(self.workdir)
        self.tls = self.tls or self.auth
        if self.heartbeat is None:
            self.heartbeat = for_federation(len(self.nodes))
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
        linux_prctl(PR_SET_CHILD_SUBREAPER, 1)
        self.home.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        if self.tls:
            self._tls_files = make_tls_files(self.workdir / "certificates")
        if self.warm is not None:
            self._start_warm_superexec()  # first: it imports while the others start
        if self.idle_wait is not None and self.fork:  # it imports while the SuperLink starts
            self._forker = Forker.start(partial(self._spawn, "supernodes"), self.workdir)
        self._start_superlink()
        keys = self._enrol_nodes() if self.auth else {}
        ports = free_ports(len(self.nodes))
        args = [
            self._node_args(index, config, ports[index], keys.get(index))
            for index, config in enumerate(self.nodes)
        ]
        if self._forker is not None:
            self._fork_nodes(args)
        else:
            for index, node_args in enumerate(args):
                self._spawn(f"supernode-{index}", [*self._node_command(), *node_args])
        if self.warm is not None:
            self._name_warm_peers(ports)

    def stop(self) -> None:
        """Stop everything started, SuperNodes first, then whatever is left below us."""
        live = [p for p in self._processes.values() if p.running()]
        ordered = sorted(live, key=lambda p: (p.name == "superlink", p.name == "supernodes"))
        for p in ordered:
            p.signal(signal.SIGTERM)
        deadline = time.monotonic() + 8.0
        for p in ordered:
            if not p.wait(max(0.1, deadline - time.monotonic())):
                with contextlib.suppress(TimeoutError):
                    p.kill(timeout=5.0)
        for _ in range(50):
            rest = descendants(os.getpid())
            if not rest:
                break
            for pid in rest:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.1)
            reap()
        reap()

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
                preexec_fn=child_setup,  # only a prctl before exec
            )
        self._processes[name] = Started(name, argv, proc)
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
            if self._warm_server:
                argv += ["--isolation", "process"]  # the warm SuperExec runs the ServerApp
            proc = self._spawn("superlink", argv)
            start = time.monotonic()
            while time.monotonic() - start < self.startup_timeout and proc.poll() is None:
                if port_open(port) and "Uvicorn running" in self.log_of("superlink"):
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
        ca = self._tls_files.ca if self._tls_files is not None else None
        (self.home / "config.toml").write_text(connection_toml(CONNECTION, self._port, ca))

    def _enrol_nodes(self) -> dict[int, Path]:
        """Each node's key pair, every public key registered with the SuperLink (through its
        Control API, from here); the private keys by node."""
        pairs = {
            index: make_node_key(self.workdir / "node-keys", f"node-{index}")
            for index in range(len(self.nodes))
        }
        assert self._tls_files is not None  # auth implies TLS
        for _, public in pairs.values():
            register_node(f"127.0.0.1:{self._port}", public, self._tls_files.ca)
        return {index: private for index, (private, _) in pairs.items()}

    def _node_command(self) -> list[str]:
        """What runs one SuperNode by itself; :meth:`_node_args` follow."""
        if self.idle_wait is None:
            return [str(self.bin / "flower-supernode")]
        module = "prism_secure.protocols.adapters.flower.prompt_supernode"
        waits = ["--idle-wait", str(self.idle_wait), "--heartbeat", str(self.heartbeat)]
        return [sys.executable, "-m", module, *waits]

    def _node_args(
        self, index: int, config: Mapping[str, object], port: int, key: Path | None = None
    ) -> list[str]:
        """flower-supernode's own arguments for node ``index``."""
        config_file = self.workdir / f"node-{index}.toml"
        config_file.write_text(toml_lines(config))
        argv = [
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
        if self.warm is not None:
            argv += ["--isolation", "process"]
        if key is not None:
            argv += ["--auth-supernode-private-key", str(key)]
        return argv

    def _fork_nodes(self, args: Sequence[list[str]]) -> None:
        """Name every SuperNode to the forking process; learn their pids."""
        nodes = [
            NodeSpec(name=f"supernode-{i}", log=self.logs / f"supernode-{i}.log", argv=a)
            for i, a in enumerate(args)
        ]
        assert self.idle_wait is not None and self._forker is not None  # prompter SuperNodes
        spec = ForkSpec(idle_wait=self.idle_wait, heartbeat=self.heartbeat, nodes=nodes)
        try:
            pids = self._forker.fork(spec, self.startup_timeout)
        except FederationError as exc:
            raise FederationError(f"{exc}; the log:\n{self.log_of('supernodes')[-2000:]}") from None
        for node in nodes:
            self._processes[node.name] = Started(node.name, node.argv, forked=pids[node.name])

    def _start_warm_superexec(self) -> None:
        if self.prewarmed is not None:  # this process's child: reaped here, seen in /proc
            self._processes["warm-superexec"] = Started(
                "warm-superexec", [], forked=self.prewarmed.pid
            )
            return
        argv = [sys.executable, "-m", "prism_secure.protocols.adapters.flower.warm_superexec"]
        argv += ["--poll", str(self.poll_interval), "--peers", str(self.workdir / PEERS)]
        for module in self.warm or ():
            argv += ["--preload", module]
        (self.workdir / PEERS).unlink(missing_ok=True)  # an earlier federation's, if resumed
        self._spawn("warm-superexec", argv)

    def _name_warm_peers(self, ports: Sequence[int]) -> None:
        """Tell the warm SuperExec whom it serves, now that they run."""
        at = [f"127.0.0.1:{port}" for port in ports]
        nodes = [WarmNode(address=a, pid=self.node_pid(i)) for i, a in enumerate(at)]
        ca, link = self._tls_files.ca if self._tls_files is not None else None, None
        if self._warm_server:
            link = WarmNode(address=f"127.0.0.1:{self._port}", pid=self.superlink_pid, ca=ca)
        resident = self.resident
        if self.prewarmed is None:  # it writes where we sent its output
            Peers(nodes=nodes, superlink=link, resident=resident).write(self.workdir / PEERS)
        else:
            log = self.logs / "warm-superexec.log"
            peers = Peers(nodes=nodes, superlink=link, log=log, resident=resident)
            peers.write(self.prewarmed.peers)

    @property
    def _warm_server(self) -> bool:  # the warm SuperExec forks the ServerApp too
        return self.warm is not None and self.warm_server

    def kill_node(self, index: int, *, graceful: bool = False) -> None:
        """SIGKILL one SuperNode, as a crash would (its ClientApps notice and exit); ``graceful``:
        SIGTERM, as its operator would stop it, and it tells the SuperLink that it leaves."""
        self._processes[f"supernode-{index}"].kill(signum=signal.SIGTERM if graceful else None)

    def pids(self) -> dict[str, int]:
        """The pid of every process started here that still runs, by name (``supernode-0``...)."""
        return {name: p.pid for name, p in self._processes.items() if p.running()}

    def node_pid(self, index: int) -> int:
        return self._processes[f"supernode-{index}"].pid

    @property
    def superlink_pid(self) -> int:
        return self._processes["superlink"].pid
