"""Where a node keeps its SecAgg client between Flower messages (each is a fresh process).

The saved state (:meth:`SecAggClient.export_state`) is as secret as the client's keys: with it
anyone can unmask this node's input. Two places, both on the node:

- **a folder** (``state_dir``, or the node config key :data:`STATE_DIR_KEY`): one owner-only
  file (0600, in 0700 folders, written atomically) per run and node; it never leaves this
  machine's disk;
- **otherwise** ``context.state``, Flower's per-node state: it lives in the SuperNode's memory
  and crosses the SuperNode's Runtime API to every ClientApp process, which is plaintext HTTP
  on loopback unless the SuperNode has its own TLS (``--ssl-certfile``/``--ssl-keyfile``).
  Anyone who can read that process or sniff loopback on the node can read the state.

Only the current round's state is kept: a new round, an abort or the end of the round removes it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Protocol

from flwr.app import ConfigRecord, Context

STATE_RECORD = "prism-secagg-client"  # the ConfigRecord in context.state
STATE_DIR_KEY = "prism-secagg-state-dir"  # node config: keep the state in files there instead


class StateStore(Protocol):
    def load(self, round_index: int) -> bytes | None: ...
    def save(self, round_index: int, blob: bytes) -> None: ...
    def clear(self) -> None: ...


class ContextStore:
    """The state in ``context.state`` (SuperNode memory; see the module docstring)."""

    def __init__(self, context: Context) -> None:
        self.records = context.state.config_records

    def load(self, round_index: int) -> bytes | None:
        record = self.records.get(STATE_RECORD)
        if record is None or record.get("round") != round_index:
            return None
        blob = record.get("state")
        return blob if isinstance(blob, bytes) else None

    def save(self, round_index: int, blob: bytes) -> None:
        self.records[STATE_RECORD] = ConfigRecord({"round": round_index, "state": blob})

    def clear(self) -> None:
        if STATE_RECORD in self.records:
            del self.records[STATE_RECORD]


class FolderStore:
    """The state in an owner-only file under ``folder/run-<run id>/node-<node id>/``."""

    def __init__(self, folder: Path, run_id: int, node_id: int) -> None:
        run = Path(folder) / f"run-{int(run_id)}"
        self.folder = run / f"node-{int(node_id)}"
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        for made in (Path(folder), run, self.folder):
            os.chmod(made, 0o700)

    def _path(self, round_index: int) -> Path:
        return self.folder / f"round-{int(round_index):09d}.state"

    def load(self, round_index: int) -> bytes | None:
        path = self._path(round_index)
        return path.read_bytes() if path.is_file() else None

    def save(self, round_index: int, blob: bytes) -> None:
        target = self._path(round_index)
        for old in self.folder.glob("round-*.state"):
            if old != target:
                old.unlink(missing_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-", suffix=".state")  # 0600
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(blob)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def clear(self) -> None:
        for old in self.folder.glob("round-*.state"):
            old.unlink(missing_ok=True)


def store_for(context: Context, state_dir: str | Path | None = None) -> StateStore:
    """The folder store if a folder is named (argument first, then node config), else context."""
    folder = state_dir if state_dir is not None else context.node_config.get(STATE_DIR_KEY)
    if folder:
        return FolderStore(Path(str(folder)), context.run_id, context.node_id)
    return ContextStore(context)
