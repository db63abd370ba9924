"""TEST ONLY: faults the acceptance tests inject into real SuperNodes, chosen by run config.

Inert unless the run config's ``test-faults`` is set (it is empty by default); an app of yours
does not need this module. ``test-faults`` is a ``;``-separated list of
``ROUND:PARTITION:STAGE:ACTION``:

- STAGE ``train``, ``share``, ``masked``, ``consistency`` or ``unmask`` (the exchange), with
  ACTION ``error`` (the ClientApp raises: Flower sends an error reply), ``silent`` (it answers
  only after the exchange's deadline) or ``kill`` (it SIGKILLs its own SuperNode: a crash);
- STAGE ``update`` with ACTION ``shape``, ``dtype``, ``nan`` or ``inf``: the training reply's
  ``weight`` is corrupted that way, so prism-secure's mod must refuse it.

:func:`at_stage` must sit outside ``prism_secagg_mod`` (it sees every protocol message),
:func:`in_update` inside it (it sees the user's training reply before the mod checks it).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np
from flwr.app import Array, ArrayRecord, Context, Message

from prism_secure.protocols.adapters.flower.transport import RECORD

KEY = "test-faults"


def _faults(context: Context, msg: Message) -> dict[str, str]:
    """STAGE -> ACTION for this node (by partition) and this round (the message's group id)."""
    spec = str(context.run_config.get(KEY, "") or "")
    me, rnd = str(context.node_config.get("partition-id")), msg.metadata.group_id
    out = {}
    for item in filter(None, (part.strip() for part in spec.split(";"))):
        r, partition, stage, action = item.split(":")
        if r == rnd and partition == me:
            out[stage] = action
    return out


def _stage(msg: Message) -> str | None:
    record = msg.content.config_records.get(RECORD) if msg.has_content() else None
    return None if record is None else str(record.get("stage"))


def at_stage(msg: Message, context: Context, call_next):  # noqa: ANN001, ANN201
    """Outermost mod: error, stay silent past the deadline, or crash the SuperNode."""
    action = _faults(context, msg).get(_stage(msg) or "")
    if action == "error":
        raise RuntimeError(f"test fault: error at {_stage(msg)}")
    if action == "silent":
        key = "train-timeout" if _stage(msg) == "train" else "phase-timeout"
        time.sleep(float(context.run_config[key]) + 3.0)
        raise RuntimeError(f"test fault: silent at {_stage(msg)} (this reply comes too late)")
    if action == "kill":
        os.kill(_supernode_pid(), signal.SIGKILL)
        os._exit(1)
    return call_next(msg, context)


def in_update(msg: Message, context: Context, call_next):  # noqa: ANN001, ANN201
    """Innermost mod: corrupt the training reply's ``weight`` as the fault says."""
    reply = call_next(msg, context)
    action = _faults(context, msg).get("update")
    if action is None or not reply.has_content():
        return reply
    record = reply.content.array_records["arrays"]
    weight = record["weight"].numpy()
    bad = {
        "shape": lambda w: w[:-1],
        "dtype": lambda w: w.astype(np.float64),
        "nan": lambda w: np.where(np.arange(w.size).reshape(w.shape) == 0, np.nan, w),
        "inf": lambda w: np.where(np.arange(w.size).reshape(w.shape) == 1, np.inf, w),
    }[action](weight)
    arrays = {k: v for k, v in record.items() if k != "weight"}
    reply.content["arrays"] = ArrayRecord({"weight": Array(np.asarray(bad)), **arrays})
    return reply


def _supernode_pid() -> int:
    """The nearest ancestor process that is a ``flower-supernode``."""
    pid = os.getppid()
    while pid > 1:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        if b"flower-supernode" in cmdline:
            return pid
        stat = Path(f"/proc/{pid}/stat").read_bytes()
        pid = int(stat[stat.rindex(b")") + 2 :].split()[1])
    raise RuntimeError("test fault: no flower-supernode above this ClientApp")
