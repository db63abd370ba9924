"""Sends the run's actions to its one SuperNode, one query at a time, and writes the replies:
``{"pid": ..., "tasks": ...}``, ``{"error": reason}``, or ``null`` where none came."""

from __future__ import annotations

import json
import time
from pathlib import Path

from flwr.app import ConfigRecord, Context, Message, RecordDict
from flwr.serverapp import Grid, ServerApp

app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    cfg = context.run_config
    deadline = time.monotonic() + 120
    while not list(grid.get_node_ids()) and time.monotonic() < deadline:
        time.sleep(0.2)
    (node,) = list(grid.get_node_ids())
    out: list[dict | None] = []
    for action in str(cfg["actions"]).split(","):
        ask = RecordDict({"ask": ConfigRecord({"action": action})})
        query = Message(ask, dst_node_id=node, message_type="query")
        replies = list(grid.send_and_receive([query], timeout=30))
        if not replies:
            out.append(None)
        elif replies[0].has_error():
            out.append({"error": replies[0].error.reason})
        else:
            answer = replies[0].content["answer"]
            out.append({"pid": int(answer["pid"]), "tasks": int(answer["tasks"])})
    Path(str(cfg["out-file"])).write_text(json.dumps(out))
