"""A warm SuperExec: ClientApps run in processes that have already imported the app.

Flower's own SuperExec starts a fresh ``flwr-clientapp`` for every message, and that process
imports Flower and the app anew before it does any work: on a 2-core machine about 2 CPU-seconds
per message and node, and a PRISM round has five messages per node. This SuperExec imports
Flower's ClientApp runtime and the app's modules once, then forks one ClientApp process per task.
A forked ClientApp is still one process per message, run by Flower's own runtime with its task
token, so nothing lives on between messages except what a node writes to its own files. With
``--resident`` (what the trial and ``prism-secure flower superexec`` do) a node's ClientApp tasks
run one after another in its loop's own process instead (:mod:`.resident_apps`): no fork, bundle
install or app load per message.

Preload libraries (numpy, torch, prism-secure), not the app's own modules: a module imported here
is the one every ClientApp uses, whatever copy the run's app bundle holds.

It serves SuperNodes started with ``--isolation process``, and with ``--superlink`` also the
ServerApps of a SuperLink started that way: a fresh ``flwr-serverapp`` spends its first seconds
importing Flower, torch and the app (about 10 s on two cores), a forked one none. One root
process imports the modules and forks one loop per SuperNode (and one for the SuperLink); each
loop asks its peer's Runtime API for tasks and forks an app process for each, run by Flower's
own runtime with its task token. A loop ends when its peer does (so do that loop's apps, through
a parent-death signal), and every loop ends with the root.

Run it as ``python -m prism_secure.protocols.adapters.flower.warm_superexec --node
127.0.0.1:9094@PID --superlink 127.0.0.1:9092@PID --preload my_app.client``. A federation that
starts it before its other processes passes ``--peers FILE`` instead and writes the file once
they run: the imports then overlap their start.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, FilePath

from prism_secure.artifacts.atomic import write_text_atomic
from prism_secure.protocols.adapters.flower import prompt_pulls, telemetry
from prism_secure.protocols.adapters.flower.processes import (
    alive,
    await_written,
    reap,
    redirect_output,
    run_forked,
)
from prism_secure.protocols.adapters.flower.resident_apps import AppCache, end_with, run_resident

FIRST_POLL = 0.05  # seconds: the first wait after a task, doubled after each empty poll
RESTARTS = 10  # a node's loop started again at most this often while its node lives


class WarmNode(BaseModel):
    """One peer served: its Runtime API address and pid, and the CA its TLS certificate is from
    (``None``: plain HTTP, what a SuperNode's Runtime API speaks on loopback)."""

    model_config = ConfigDict(frozen=True)

    address: str = Field(pattern=r"^[A-Za-z0-9.\-\[\]:]+:[0-9]{1,5}$")
    pid: int | None = Field(default=None, gt=0)
    ca: FilePath | None = None

    @classmethod
    def parse(cls, text: str, ca: Path | None = None) -> WarmNode:
        """``HOST:PORT`` or ``HOST:PORT@PID``."""
        address, _, pid = text.partition("@")
        return cls(address=address, pid=int(pid) if pid else None, ca=ca)

    def certificates(self) -> bytes | None:
        return self.ca.read_bytes() if self.ca is not None else None


class Peers(BaseModel):
    """Whom one warm SuperExec serves: SuperNodes, and a SuperLink's ServerApps."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    nodes: list[WarmNode] = Field(default_factory=list)
    superlink: WarmNode | None = None
    log: Path | None = None  # where a forked SuperExec writes from then on (see forked_early)
    resident: bool = False  # each node's ClientApps run in its loop's process (resident_apps)

    @classmethod
    def await_file(cls, path: Path, timeout: float = 600.0) -> Peers:
        """The peers ``path`` names, once it exists: a federation writes it (atomically) when its
        processes have started, while this one imports. Ends the process if the one that started
        it ends first, or after ``timeout`` seconds."""
        text = await_written(path, timeout, started="this warm SuperExec", named="peers")
        return cls.model_validate_json(text)

    def write(self, path: Path) -> None:
        write_text_atomic(path, self.model_dump_json())


def preload_modules(names: Sequence[str]) -> None:
    """Flower's app runtimes and ``names``: what every forked app then finds imported, frozen
    for the garbage collector; the apps' object pulls made prompt (:mod:`.prompt_pulls`), and
    telemetry switched off by the environment made cheap (:mod:`.telemetry`)."""
    import flwr.superlink.runtime.run_serverapp  # noqa: F401 - Flower's ServerApp runtime
    import flwr.supernode.runtime.run_clientapp  # noqa: F401 - Flower's ClientApp runtime

    if not telemetry.enabled():
        telemetry.disable()
    prompt_pulls.install((prompt_pulls.CLIENTAPP, prompt_pulls.SERVERAPP))  # for every fork
    for name in names:
        importlib.import_module(name)
    # What the imports made lives as long as the process: frozen, a forked app's garbage
    # collections skip it instead of walking (and so copying) every page of it.
    gc.freeze()


def _run_clientapp(node: WarmNode, token: str) -> None:
    from flwr.supernode.runtime.run_clientapp import run_clientapp

    run_clientapp(
        runtime_api_address=node.address,
        token=token,
        insecure=node.ca is None,
        certificates=node.certificates(),
        parent_pid=node.pid,
    )


def _run_serverapp(link: WarmNode, token: str) -> None:
    from queue import Queue

    from flwr.supercore.logger import mirror_output_to_queue, restore_output
    from flwr.superlink.runtime import run_serverapp

    log_queue: Queue[str | None] = Queue()  # what `flwr log` shows, as flwr-serverapp does
    mirror_output_to_queue(log_queue)
    try:
        run_serverapp(
            runtime_api_address=link.address,
            log_queue=log_queue,
            token=token,
            insecure=link.ca is None,
            certificates=link.certificates(),
            parent_pid=link.pid,
            runtime_dependency_install=False,
        )
    finally:
        restore_output()


def node_loop(node: WarmNode, poll: float, server: bool = False, resident: bool = False) -> None:
    """Ask ``node`` for ClientApp tasks (``server``: a SuperLink's ServerApp tasks) and fork one
    process per task (``resident``: run each ClientApp task here), while the peer lives:
    :data:`FIRST_POLL` s after a task, the wait doubling to ``poll`` s while none comes."""
    from flwr.proto.runtime_pb2 import AcquireTaskRequest
    from flwr.supercore.constant import TaskType
    from flwr.supercore.interceptors import RuntimeVersionHttpInterceptor
    from flwr.supercore.runtime import RuntimeHttpClient

    client = RuntimeHttpClient.from_server_address(
        server_address=node.address,
        insecure=node.ca is None,
        root_certificates=node.certificates(),
        interceptors=[RuntimeVersionHttpInterceptor(component_name="SuperExec")],
    )
    task_type = TaskType.SERVER_APP if server else TaskType.CLIENT_APP
    run_task = _run_serverapp if server else _run_clientapp
    apps: AppCache = {}  # resident: the loaded ClientApps, by bundle
    if resident and not server:
        end_with(node.pid)
    wanted, wait = [task_type], min(FIRST_POLL, poll)
    try:
        while alive(node.pid):
            reap()
            try:
                res = client.AcquireTask(
                    AcquireTaskRequest(supported_task_types=wanted, agentapp_fab_hashes=[])
                )
            except Exception:  # noqa: BLE001 - the node is starting, busy or gone: ask again
                time.sleep(max(poll, 0.5))
                continue
            if res.HasField("task") and res.token:
                if res.task.type == task_type and resident and not server:
                    run_resident(node.address, node.certificates(), res.token, apps)
                elif res.task.type == task_type:
                    run_forked(run_task, node, res.token)
                wait = min(FIRST_POLL, poll)  # a protocol's next message comes within a second
                continue  # a task may follow at once
            time.sleep(wait)
            wait = min(2 * wait, poll)
    finally:
        client.close()


def serve(
    nodes: Sequence[WarmNode],
    preload: Sequence[str],
    poll: float = 0.5,
    superlink: WarmNode | None = None,
    resident: bool = False,
) -> None:
    """Import ``preload``, then serve every node (and ``superlink``'s ServerApps) from a loop of
    its own until all have ended. A loop that ends while its peer lives (a resident ClientApp
    that ended its process) is started again, at most :data:`RESTARTS` times per peer."""
    preload_modules(preload)
    loops = {run_forked(node_loop, node, poll, False, resident): node for node in nodes}
    if superlink is not None:
        loops[run_forked(node_loop, superlink, poll, True)] = superlink
    restarts = dict.fromkeys(range(len(nodes)), 0)

    def stop(signum: int, frame: object) -> None:
        for pid in loops:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    served = f"{len(nodes)} SuperNode(s)" + (" and a SuperLink" if superlink else "")
    sent = "on" if telemetry.enabled() else "off"
    apps = ", resident ClientApps" if resident and nodes else ""
    print(f"warm SuperExec serving {served}; Flower's telemetry {sent}{apps}", flush=True)
    while loops:
        try:
            pid, _ = os.wait()
        except ChildProcessError:
            break
        peer = loops.pop(pid, None)
        if peer is None or peer is superlink or not alive(peer.pid):
            continue
        index = nodes.index(peer)
        if restarts[index] < RESTARTS:
            restarts[index] += 1
            print(f"warm SuperExec: the loop of {peer.address} ended; started again", flush=True)
            loops[run_forked(node_loop, peer, poll, False, resident)] = peer


@dataclass(frozen=True)
class ForkedWarm:
    """A warm SuperExec forked by :func:`forked_early`: its pid, and where it awaits its peers."""

    pid: int
    peers: Path


def _serve_when_named(peers_file: Path, preload: Sequence[str], poll: float) -> None:
    os.setsid()  # as a spawned one: a terminal's Ctrl-C reaches the federation, not its parts
    telemetry.disable()  # as in every process the federation starts
    peers = Peers.await_file(peers_file)
    if peers.log is not None:
        redirect_output(peers.log)
    serve(peers.nodes, preload, poll, peers.superlink, peers.resident)


@contextlib.contextmanager
def forked_early(preload: Sequence[str], poll: float = 0.5) -> Iterator[ForkedWarm | None]:
    """Import ``preload`` here and fork a warm SuperExec from this process, to serve the peers a
    federation names later (:class:`Peers`, written to ``ForkedWarm.peers``).

    A process that imports the app anyway (the one-machine trial's CLI) so saves the SuperExec its
    own imports: about 8 CPU-seconds of torch and the app here. Call it before this process
    computes anything with torch: GNU OpenMP's threads do not survive a fork, and a forked child
    that then computes hangs (seen here). With other threads running it forks nothing and yields
    ``None``; the federation then starts a SuperExec of its own. On the way out the SuperExec is
    stopped if it still runs.
    """
    preload_modules(preload)
    if threading.active_count() > 1:
        yield None
        return
    folder = Path(tempfile.mkdtemp(prefix="prism-warm-"))
    pid = run_forked(_serve_when_named, folder / "peers.json", preload, poll)
    try:
        yield ForkedWarm(pid, folder / "peers.json")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        shutil.rmtree(folder, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--node", action="append", default=[], help="HOST:PORT[@PID]")
    parser.add_argument("--superlink", help="HOST:PORT[@PID]: also serve its ServerApps")
    parser.add_argument("--superlink-ca", type=Path, help="the CA of the SuperLink's TLS")
    parser.add_argument("--preload", action="append", default=[], help="a module to import once")
    parser.add_argument("--poll", type=float, default=0.5, help="seconds between task polls")
    parser.add_argument(
        "--peers", type=Path, help="a JSON file naming the peers, awaited after the imports"
    )
    parser.add_argument(
        "--resident", action="store_true", help="run each node's ClientApps in its loop's process"
    )
    args = parser.parse_args(argv)
    if not (args.node or args.superlink or args.peers):
        parser.error("serve at least one --node, the --superlink, or the --peers in a file")
    if args.peers is not None:
        preload_modules(args.preload)  # while the federation starts its processes
        peers = Peers.await_file(args.peers)
    else:
        link = WarmNode.parse(args.superlink, args.superlink_ca) if args.superlink else None
        peers = Peers(nodes=[WarmNode.parse(n) for n in args.node], superlink=link)
    if not peers.nodes and peers.superlink is None:
        raise SystemExit(f"{args.peers} names no peer")
    serve(peers.nodes, args.preload, args.poll, peers.superlink, args.resident or peers.resident)


if __name__ == "__main__":
    main()
