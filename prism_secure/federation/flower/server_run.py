"""The server's side of a Flower run: greet the sites, run the shared round loop, export.

The loop, the checkpoints, the tracking and the export are the in-process engine's
(:func:`prism_secure.app.train.run_rounds`, :func:`~prism_secure.app.train.finish_run`); only
the engine differs. The ledger is built from the public parameters each site reports with its
first reply, and rewritten whenever a site reports (again).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prism_secure.app.checkpoints import ServerCheckpoint
from prism_secure.app.events import TrainingEvents
from prism_secure.app.generator import build_run_generator, initial_scores
from prism_secure.app.train import finish_run, run_rounds
from prism_secure.artifacts.rundir import RunDirectory
from prism_secure.config import RunConfig
from prism_secure.errors import RunDirError
from prism_secure.federation.flower.engine import FlowerEngine
from prism_secure.federation.flower.nodes import NodeMap, wait_for_sites
from prism_secure.federation.flower.site import run_key
from prism_secure.federation.server import Server
from prism_secure.privacy import ClientPrivacyRecord, PrivacyLedger, read_ledger, write_ledger


class _LedgerAfterRounds:
    """Passes events on, and rewrites the ledger after a round in which sites reported."""

    def __init__(
        self,
        events: TrainingEvents,
        run: RunDirectory,
        cfg: RunConfig,
        records: dict[int, ClientPrivacyRecord],
    ) -> None:
        self.events, self.run, self.cfg, self.records = events, run, cfg, records
        self._written: dict[int, ClientPrivacyRecord] = dict(records)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.events, name)

    def round_finished(self, record: dict[str, Any]) -> None:
        if self.records and self.records != self._written:
            write_ledger(self.run.path, PrivacyLedger.from_records(self.cfg.privacy, self.records))
            self._written = dict(self.records)
        self.events.round_finished(record)


def serve(grid: object, run: RunDirectory, events: TrainingEvents) -> Path:
    """Train the run in ``run`` over ``grid``'s sites (resuming it if it has a checkpoint)."""
    cfg = run.config()
    if cfg.federation.engine != "flower":
        raise RunDirError(f"{run.path} is configured for the {cfg.federation.engine} engine")
    n = cfg.partition.num_clients
    nodes = NodeMap(grid, n, cfg.flower.phase_timeout, cfg.flower.poll_interval, events.notice)
    wait_for_sites(nodes, n, cfg.flower.startup_timeout)
    if nodes.known < n:
        events.notice(f"only {nodes.known} of {n} sites are connected; the others are dropouts")
    records = dict(read_ledger(run.path).clients) if run.privacy_path.exists() else {}
    generator = build_run_generator(cfg)
    checkpoint = ServerCheckpoint.load(run)
    if checkpoint is None:
        server, start = Server(cfg, initial_scores(cfg, generator), None), 1
    else:
        server, start = Server(cfg, checkpoint.scores, checkpoint.server_rng), checkpoint.round + 1
    key = run_key(run.config_path.read_text(), run.path.name)
    engine = FlowerEngine(cfg, grid, server, nodes, key, records)
    if checkpoint is not None:
        engine.totals.update(checkpoint.totals)
    run.truncate_metrics(start - 1)
    run_rounds(cfg, run, engine, generator, start, _LedgerAfterRounds(events, run, cfg, records))
    if not records:
        raise RunDirError("no site ever trained: there is no release to account for")
    ledger = PrivacyLedger.from_records(cfg.privacy, records)
    write_ledger(run.path, ledger)
    summary = finish_run(cfg, run, generator, engine, ledger.statement)
    events.run_finished(run.path, summary)
    return run.path
