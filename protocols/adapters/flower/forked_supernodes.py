"""Many SuperNodes on one machine from one interpreter: Flower imported once, each node forked.

Starting flwr 1.42's SuperNode costs about 2 CPU-seconds of imports (SQLAlchemy, Alembic,
FastAPI, gRPC and Flower itself) before it sends a byte; a trial of 11 nodes on two cores spends
most of its first 10 seconds on that. This process imports the prompter SuperNode
(:mod:`~prism_secure.protocols.adapters.flower.prompt_supernode`) once and forks one process per
node. Each child is Flower's own ``flower-supernode`` entry point with its own arguments, log,
session and node key, exactly what ``python -m ...prompt_supernode ARGS`` would run; it shares
only the parent's imported code, copy-on-write. Nothing but imports happens before the fork (the
parent refuses to fork once a thread runs), so no connection, lock or secret is shared.

It is started before the SuperLink, imports Flower meanwhile and forks once the federation writes
the nodes' spec (``--spec``, atomically), when the SuperLink is up and every node's key enrolled.
The parent writes the children's pids to ``--pids`` (atomically), reaps them as they end, passes
SIGTERM or SIGINT on to them, and exits when the last one has ended. Each child gets SIGTERM if the
parent dies. Used by :class:`~prism_secure.protocols.adapters.flower.loopback.LoopbackFederation`.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from prism_secure.artifacts.atomic import write_text_atomic
from prism_secure.protocols.adapters.flower import heartbeat
from prism_secure.protocols.adapters.flower.processes import (
    FederationError,
    await_written,
    parent_of,
    redirect_output,
    run_forked,
)
from prism_secure.protocols.adapters.flower.prompt_supernode import LONGEST_WAIT, shorten_idle_wait


class NodeSpec(BaseModel):
    """One SuperNode: a name for its pid, the file its output goes to, flower-supernode's args."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")
    log: Path
    argv: list[str]


class ForkSpec(BaseModel):
    """Every node this process starts, and the waits all of them use."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    idle_wait: float = LONGEST_WAIT
    heartbeat: float = heartbeat.DEFAULT
    nodes: list[NodeSpec] = Field(min_length=1)

    @classmethod
    def await_file(cls, path: Path, timeout: float = 600.0) -> ForkSpec:
        """The spec in ``path`` once it exists (written atomically by a federation whose
        SuperLink is up); exits if the process that started this one ends first, or after
        ``timeout`` s."""
        text = await_written(path, timeout, started="these SuperNodes", named="SuperNodes")
        return cls.model_validate_json(text)


@dataclass
class Forker:
    """This module run as a process of its own, started before the SuperLink so that it imports
    Flower while the SuperLink starts; :meth:`fork` names the nodes once the SuperLink is up."""

    proc: subprocess.Popen[bytes]
    spec_file: Path
    pids_file: Path

    @classmethod
    def start(cls, spawn: Callable[[list[str]], subprocess.Popen[bytes]], folder: Path) -> Forker:
        """Start it with ``spawn(argv)``, its files in ``folder`` (an earlier federation's
        removed)."""
        spec_file, pids_file = folder / "supernodes.json", folder / "supernodes.pids"
        for stale in (spec_file, pids_file):
            stale.unlink(missing_ok=True)
        module = "prism_secure.protocols.adapters.flower.forked_supernodes"
        argv = [sys.executable, "-m", module, "--spec", str(spec_file), "--pids", str(pids_file)]
        return cls(spawn(argv), spec_file, pids_file)

    def fork(self, spec: ForkSpec, timeout: float) -> dict[str, int]:
        """Name the nodes to fork; their pids, once every one runs."""
        write_text_atomic(self.spec_file, spec.model_dump_json())
        return await_pids(self.pids_file, self.proc, spec, timeout)


class ForkError(RuntimeError):
    """This process cannot fork SuperNodes safely."""


def _run_node(node: NodeSpec) -> None:
    """In the child: a session of its own, output to its log, then Flower's SuperNode."""
    os.setsid()
    redirect_output(node.log)
    from flwr.supernode.cli import flower_supernode

    sys.argv = ["flower-supernode", *node.argv]
    flower_supernode()


def start(spec: ForkSpec) -> dict[str, int]:
    """Prepare the SuperNode once, then fork one child per node; their pids by name."""
    import flwr.supernode.cli  # noqa: F401 - the import every child would otherwise repeat

    if threading.active_count() != 1:
        raise ForkError(f"{threading.active_count()} threads run: forking now is not safe")
    shorten_idle_wait(spec.idle_wait)
    heartbeat.set_heartbeat(spec.heartbeat)
    gc.freeze()  # the imports, skipped by every node's garbage collections (no copy-on-write)
    sys.stdout.flush()
    sys.stderr.flush()
    return {node.name: run_forked(_run_node, node) for node in spec.nodes}


def await_pids(
    path: Path, forker: subprocess.Popen[bytes], spec: ForkSpec, timeout: float
) -> dict[str, int]:
    """The pids ``forker`` (running ``main``) writes for ``spec``'s nodes, checked: every node
    named once, each a child of ``forker`` (a stale file of an earlier federation is not)."""
    start = time.monotonic()
    while not path.exists():
        if forker.poll() is not None or time.monotonic() - start > timeout:
            raise FederationError("the SuperNodes did not start")
        time.sleep(0.05)
    pids = {name: int(pid) for name, pid in json.loads(path.read_text()).items()}
    strangers = [pid for pid in pids.values() if parent_of(pid) not in (forker.pid, None)]
    if sorted(pids) != sorted(n.name for n in spec.nodes) or strangers:
        raise FederationError(f"{path} does not name the SuperNodes just forked: {pids}")
    return pids


def write_pids(path: Path, pids: dict[str, int]) -> None:
    write_text_atomic(path, json.dumps(pids))


def supervise(pids: dict[str, int]) -> None:
    """Reap the children; pass SIGTERM and SIGINT on to them; return when all have ended."""
    live = set(pids.values())

    def forward(signum: int, frame: object) -> None:
        for pid in live:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    while live:
        try:
            pid, _ = os.wait()
        except ChildProcessError:
            return
        live.discard(pid)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--spec", type=Path, required=True, help="a ForkSpec as JSON, awaited after the imports"
    )
    parser.add_argument("--pids", type=Path, required=True, help="where the pids are written")
    args = parser.parse_args(argv)
    spec = ForkSpec.model_validate_json(args.spec.read_bytes()) if args.spec.exists() else None
    import flwr.supernode.cli  # noqa: F401 - while the federation starts its SuperLink

    pids = start(spec or ForkSpec.await_file(args.spec))
    write_pids(args.pids, pids)
    print(f"forked {len(pids)} SuperNode(s): {pids}", flush=True)
    supervise(pids)


if __name__ == "__main__":
    main()
