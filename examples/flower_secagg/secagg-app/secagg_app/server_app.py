"""The ServerApp: FedAvg over every SuperNode; each round's global arrays go to ``out-file``.

``out-file`` also names the Python this process runs under, so a launcher can check it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from flwr.app import Array, ArrayRecord, ConfigRecord, Context, MetricRecord
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg

from secagg_app import task

app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    cfg = context.run_config
    nodes = int(cfg["min-nodes"])
    history: list[dict] = []

    def record(server_round: int, arrays: ArrayRecord) -> MetricRecord:
        values = {k: v.numpy() for k, v in arrays.items()}
        loss = task.central_loss(values, nodes)
        history.append(
            {
                "round": server_round,
                "loss": loss,
                "arrays": {k: v.tolist() for k, v in values.items()},
            }
        )
        return MetricRecord({"loss": loss})

    strategy = FedAvg(fraction_evaluate=0.0, min_train_nodes=nodes, min_available_nodes=nodes)
    strategy.start(
        grid=grid,
        initial_arrays=ArrayRecord(
            array_dict={k: Array(v) for k, v in task.initial_arrays().items()}
        ),
        num_rounds=int(cfg["num-server-rounds"]),
        train_config=ConfigRecord({"lr": float(cfg["lr"]), "local-steps": int(cfg["local-steps"])}),
        evaluate_fn=record,
    )
    if cfg["out-file"]:
        report = {"python": sys.executable, "rounds": history}
        Path(str(cfg["out-file"])).write_text(json.dumps(report))
