"""A warm SuperExec: each ClientApp is forked from a process that has already imported the app.

Flower's own SuperExec starts a fresh ``flwr-clientapp`` for every message, and that process
imports Flower and the app anew before it does any work: on a 2-core machine about 2 CPU-seconds
per message and node, and a PRISM round has five messages per node. This SuperExec imports
Flower's ClientApp runtime and the app's modules once, then forks one ClientApp process per task.
A forked ClientApp is still one process per message, run by Flower's own runtime with its task
token, so nothing lives on between messages except what a node writes to its own files.

Preload libraries (numpy, torch, prism-secure), not the app's own modules: a module imported here
is the one every ClientApp uses, whatever copy the run's app bundle holds.

It serves SuperNodes started with ``--isolation process``. One root process imports the modules
and forks one loop per SuperNode; each loop asks its node's Runtime API for tasks and forks a
ClientApp for each. A loop ends when its SuperNode does (so do that loop's ClientApps, through a
parent-death signal), and every loop ends with the root.

Run it as ``python -m prism_secure.protocols.adapters.flower.warm_superexec --node
127.0.0.1:9094@PID --preload my_app.client``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import time
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from prism_secure.protocols.adapters.flower.processes import alive, reap, run_forked


class WarmNode(BaseModel):
    """One SuperNode served: its Runtime API address (loopback, plain HTTP) and its pid."""

    model_config = ConfigDict(frozen=True)

    address: str = Field(pattern=r"^[A-Za-z0-9.\-\[\]:]+:[0-9]{1,5}$")
    pid: int | None = Field(default=None, gt=0)

    @classmethod
    def parse(cls, text: str) -> WarmNode:
        """``HOST:PORT`` or ``HOST:PORT@PID``."""
        address, _, pid = text.partition("@")
        return cls(address=address, pid=int(pid) if pid else None)


def _run_task(node: WarmNode, token: str) -> None:
    from flwr.supernode.runtime.run_clientapp import run_clientapp

    run_clientapp(
        runtime_api_address=node.address,
        token=token,
        insecure=True,
        certificates=None,
        parent_pid=node.pid,
    )


def node_loop(node: WarmNode, poll: float) -> None:
    """Ask ``node`` for ClientApp tasks and fork one process per task, while the node lives."""
    from flwr.proto.runtime_pb2 import AcquireTaskRequest
    from flwr.supercore.constant import TaskType
    from flwr.supercore.interceptors import RuntimeVersionHttpInterceptor
    from flwr.supercore.runtime import RuntimeHttpClient

    client = RuntimeHttpClient.from_server_address(
        server_address=node.address,
        insecure=True,
        root_certificates=None,
        interceptors=[RuntimeVersionHttpInterceptor(component_name="SuperExec")],
    )
    wanted = [TaskType.CLIENT_APP]
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
                if res.task.type == TaskType.CLIENT_APP:
                    run_forked(_run_task, node, res.token)
                continue  # a task may follow at once
            time.sleep(poll)
    finally:
        client.close()


def serve(nodes: Sequence[WarmNode], preload: Sequence[str], poll: float = 0.5) -> None:
    """Import ``preload``, then serve every node from a loop of its own until all have ended."""
    import flwr.supernode.runtime.run_clientapp  # noqa: F401 - Flower's ClientApp runtime

    for name in preload:
        importlib.import_module(name)
    loops = {run_forked(node_loop, node, poll): node for node in nodes}

    def stop(signum: int, frame: object) -> None:
        for pid in loops:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"warm SuperExec serving {len(loops)} SuperNode(s)", flush=True)
    while loops:
        try:
            pid, _ = os.wait()
        except ChildProcessError:
            break
        loops.pop(pid, None)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--node", action="append", required=True, help="HOST:PORT[@PID]")
    parser.add_argument("--preload", action="append", default=[], help="a module to import once")
    parser.add_argument("--poll", type=float, default=0.5, help="seconds between task polls")
    args = parser.parse_args(argv)
    serve([WarmNode.parse(n) for n in args.node], args.preload, args.poll)


if __name__ == "__main__":
    main()
