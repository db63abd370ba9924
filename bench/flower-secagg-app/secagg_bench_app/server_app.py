"""FedAvg over every node through SecAggGrid; each round's wall time and report to out-file."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from flwr.app import Array, ArrayRecord, Context, MetricRecord
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg

from prism_secure.protocols.adapters.flower import QuantiseConfig, SecAggConfig, SecAggGrid

app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    cfg = context.run_config
    n, d = int(cfg["nodes"]), int(cfg["entries"])
    while len(list(grid.get_node_ids())) < n:
        time.sleep(0.5)
    config = SecAggConfig(
        quantise=QuantiseConfig(clip=1.0, max_weight=1000),
        threshold=n // 2 + 1,  # the smallest secure one on the full graph, as Flower's side
        train_timeout=float(cfg["train-timeout"]),
        phase_timeout=float(cfg["phase-timeout"]),
    )
    secure = SecAggGrid(grid, config)
    marks: list[float] = []

    def mark(server_round: int, arrays: ArrayRecord) -> MetricRecord:
        marks.append(time.monotonic())
        return MetricRecord({})

    rows = d // 100 - 1
    model = {"kernel": np.zeros((rows, 100), np.float32), "bias": np.zeros(100, np.float32)}
    FedAvg(fraction_evaluate=0.0, min_train_nodes=n, min_available_nodes=n).start(
        grid=secure,
        initial_arrays=ArrayRecord({k: Array(v) for k, v in model.items()}),
        num_rounds=int(cfg["num-server-rounds"]),
        evaluate_fn=mark,
    )
    rounds = [
        {"wall_seconds": later - earlier, **report.summary()}
        for earlier, later, report in zip(marks[:-1], marks[1:], secure.rounds, strict=True)
    ]
    Path(str(cfg["out-file"])).write_text(json.dumps({"nodes": n, "entries": d, "rounds": rounds}))
