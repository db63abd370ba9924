"""The ServerApp: FedAvg over every SuperNode, each train round a secure round.

``SecAggGrid`` wraps the Grid: FedAvg gets the survivors' weighted mean (and nothing per
client). Each round's global arrays, its survivors and dropouts (by partition, learnt from a
query), its clip count and error bounds go to ``out-file``, with the Python this process runs
under, so that run.py can check them.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg

from prism_secure.protocols.adapters.flower import QuantiseConfig, SecAggConfig, SecAggGrid
from secagg_app import task

app = ServerApp()


def secagg_config(cfg: dict) -> SecAggConfig:
    """Clipping, weights, threshold (0: the parameter finder's) and deadlines from run config."""
    threshold = int(cfg["threshold"])
    return SecAggConfig(
        quantise=QuantiseConfig(clip=float(cfg["clip"]), max_weight=int(cfg["max-weight"])),
        threshold=threshold or None,
        dropout=float(cfg["dropout"]),
        stall_target=float(cfg["stall-target"]),
        train_timeout=float(cfg["train-timeout"]),
        phase_timeout=float(cfg["phase-timeout"]),
    )


def partitions(grid: Grid, nodes: int, timeout: float = 300.0) -> dict[int, int]:
    """Node id -> partition id of every node, once ``nodes`` are connected."""
    start = time.monotonic()
    while len(list(grid.get_node_ids())) < nodes and time.monotonic() - start < timeout:
        time.sleep(0.5)
    asks = [Message(RecordDict(), dst_node_id=n, message_type="query") for n in grid.get_node_ids()]
    replies = grid.send_and_receive(asks, timeout=timeout)
    return {
        r.metadata.src_node_id: int(r.content["node"]["partition-id"])
        for r in replies
        if r.has_content()
    }


@app.main()
def main(grid: Grid, context: Context) -> None:
    cfg = context.run_config
    nodes = int(cfg["min-nodes"])
    secure = SecAggGrid(grid, secagg_config(cfg))
    where = partitions(secure, nodes)  # a query: through the secure grid, as prompt as a phase
    history: list[dict] = []

    def record(server_round: int, arrays: ArrayRecord) -> MetricRecord:
        values = {k: v.numpy() for k, v in arrays.items()}
        loss = task.central_loss(values, nodes)
        entry = {
            "round": server_round,
            "loss": loss,
            "arrays": {k: v.tolist() for k, v in values.items()},
        }
        if server_round and secure.last is not None and secure.last.round == server_round:
            entry["secagg"] = by_partition(secure.last.summary(), where)
        history.append(entry)
        return MetricRecord({"loss": loss})

    strategy = FedAvg(fraction_evaluate=0.0, min_train_nodes=nodes, min_available_nodes=nodes)
    strategy.start(
        grid=secure,
        initial_arrays=ArrayRecord(
            array_dict={k: Array(v) for k, v in task.initial_arrays().items()}
        ),
        num_rounds=int(cfg["num-server-rounds"]),
        train_config=ConfigRecord({"lr": float(cfg["lr"]), "local-steps": int(cfg["local-steps"])}),
        evaluate_fn=record,
    )
    if cfg["out-file"]:
        report = {"python": sys.executable, "partitions": len(where), "rounds": history}
        Path(str(cfg["out-file"])).write_text(json.dumps(report))


def by_partition(summary: dict, where: dict[int, int]) -> dict:
    """The round's summary with node ids replaced by partition ids (-1: unknown node)."""

    def name(node: object) -> int:
        return where.get(int(node), -1)  # type: ignore[arg-type]

    out = dict(summary)
    out["survivors"] = sorted(name(n) for n in summary["survivors"])
    for key in ("dropped", "refused", "errors"):
        out[key] = {str(name(n)): v for n, v in summary[key].items()}
    for key in ("nodes", "bytes_up", "bytes_down"):
        out.pop(key)
    return out
