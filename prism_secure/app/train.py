"""``train_run``: a validated configuration in, a finished (or resumed) run directory out.

Order keeps two promises. Bad input leaves nothing behind: data, partition, models and every DP
parameter are checked before the run folder is created. Each client releases once: releases are
persisted before round 1 and read back on resume.
"""

from __future__ import annotations

from pathlib import Path

from prism_secure.app.checkpoints import ServerCheckpoint
from prism_secure.app.clients import prepare_clients
from prism_secure.app.events import SilentEvents, TrainingEvents
from prism_secure.app.export import export_model
from prism_secure.app.generator import initial_scores
from prism_secure.app.inputs import RunInputs, load_inputs, setup_threads
from prism_secure.app.tracking import DomainTracker, sample_grid
from prism_secure.artifacts.atomic import write_json_atomic
from prism_secure.artifacts.released import ReleaseStore
from prism_secure.artifacts.rundir import RunDirectory
from prism_secure.config import RunConfig
from prism_secure.errors import RunDirError
from prism_secure.evaluation.plots import plot_training_curves
from prism_secure.federation.client_round import Client
from prism_secure.federation.engine import Engine
from prism_secure.federation.inprocess import InProcessEngine
from prism_secure.federation.server import Server
from prism_secure.federation.summers.factory import build_summer, planned_dropout
from prism_secure.federation.summers.policy import chosen_parameters, stall_risk
from prism_secure.models.generators import MaskedGenerator
from prism_secure.privacy import check_release_parameters, read_ledger, write_ledger

STALL_WARNING = 0.01  # tell the user when a round's abort risk at the simulated dropout exceeds it


def run_notices(cfg: RunConfig) -> list[str]:
    """What the user must read before trusting this run's configuration."""
    notes = []
    if cfg.secure_agg.mode == "none":
        notes.append("--secure-agg none: the server sees every client's mask.")
    if not cfg.privacy.enabled:
        notes.append("--no-dp: no differential-privacy guarantee.")
    cohort = max(1, round(cfg.federation.participation * cfg.partition.num_clients))
    risk = stall_risk(cfg.secure_agg, cohort, cfg.federation.dropout)
    if risk > STALL_WARNING:
        notes.append(
            f"at dropout {cfg.federation.dropout:g} a round aborts (and releases nothing) with "
            f"probability up to {risk:.2g}; leave secure_agg.threshold and secure_agg.neighbours "
            "unset (or raise the neighbours) so the parameter finder can plan for it."
        )
    return notes


def train_run(
    cfg: RunConfig, *, resume: Path | None = None, events: TrainingEvents | None = None
) -> Path:
    """Train (or resume) a run and return its directory."""
    events = events or SilentEvents()
    run = RunDirectory.open(resume) if resume is not None else None
    if run is not None:
        cfg = run.config()
        if cfg.federation.engine != "in-process":  # its sites hold its releases, not this process
            raise RunDirError(
                f"{run.path} was trained on the {cfg.federation.engine} engine; resume it there"
            )
    setup_threads(cfg)
    for text in run_notices(cfg):
        events.notice(text)
    inputs = load_inputs(cfg)
    check_release_parameters(cfg.privacy, inputs.bound)
    if run is None:
        run = RunDirectory.create(cfg)
        write_json_atomic(run.membership_path, inputs.membership.model_dump(mode="json"))
    prior = read_ledger(run.path) if run.privacy_path.exists() else None
    clients, ledger = prepare_clients(
        cfg, inputs.data, inputs.membership, inputs.feature_map, ReleaseStore(run.path), prior
    )
    write_ledger(run.path, ledger)
    engine, start = _engine(cfg, inputs, clients, ServerCheckpoint.load(run) if resume else None)
    run.truncate_metrics(start - 1)
    run_rounds(cfg, run, engine, inputs.generator, start, events)
    summary = finish_run(cfg, run, inputs.generator, engine, ledger.statement)
    events.run_finished(run.path, summary)
    return run.path


def _engine(
    cfg: RunConfig,
    inputs: RunInputs,
    clients: list[Client],
    checkpoint: ServerCheckpoint | None,
) -> tuple[InProcessEngine, int]:
    """The engine, fresh or at the state after the checkpoint's round; and the next round."""
    if checkpoint is None:
        server = Server(cfg, initial_scores(cfg, inputs.generator), None)
    else:
        server = Server(cfg, checkpoint.scores, checkpoint.server_rng)
    summer = build_summer(cfg)
    engine = InProcessEngine(cfg, inputs.generator, inputs.feature_map, clients, summer, server)
    if checkpoint is None:
        return engine, 1
    engine.totals = dict(checkpoint.totals)
    return engine, checkpoint.round + 1


def run_rounds(
    cfg: RunConfig,
    run: RunDirectory,
    engine: Engine,
    generator: MaskedGenerator,
    start: int,
    events: TrainingEvents,
) -> None:
    """Rounds ``start..rounds`` of any engine: metrics, samples, tracking, a checkpoint each."""
    rounds = cfg.federation.rounds
    tracker = DomainTracker(cfg, events)
    events.rounds_started(start, rounds, engine.cohort)
    for r in range(start, rounds + 1):
        report = engine.run_round(r, on_client=lambda cid, r=r: events.client_trained(r, cid))
        rec = report.record
        scores = engine.server.scores
        if r % cfg.output.sample_every == 0 or r == rounds:
            path = run.samples_dir / f"round_{r:04d}.png"
            images = sample_grid(cfg, scores, generator, path, n=tracker.samples)
            if tracker.enabled:
                rec["domain_fid"] = tracker.score(images)
        if report.transcript is not None:
            run.save_transcript(report.transcript)
        run.append_metrics(rec)
        ServerCheckpoint(r, scores, engine.server.rng.get_state(), engine.totals).save(run)
        events.round_finished(rec)


def finish_run(
    cfg: RunConfig, run: RunDirectory, generator: MaskedGenerator, engine: Engine, statement: str
) -> dict[str, object]:
    """Export the model, draw the final grid and the curves, write the summary (and return it)."""
    scores = engine.server.scores
    size = export_model(cfg, scores, run.model_path)
    sample_grid(cfg, scores, generator, run.samples_dir / "final.png")
    metrics = run.metrics()
    plot_training_curves(run.metrics_path, run.curves_path)
    summary = {
        "rounds": len(metrics),
        "final_loss": metrics[-1]["loss"] if metrics else None,
        "model_bytes": size,
        "num_params": scores.numel(),
        "total_bytes_up": engine.totals["bytes_up"],
        "total_bytes_down": engine.totals["bytes_down"],
        **{  # the Flower engine also counts what Flower carried, framing included
            f"total_{k}": v for k, v in engine.totals.items() if k.startswith("flower_")
        },
        "wall_seconds": sum(m.get("seconds", 0.0) for m in metrics),
        "secure_agg": cfg.secure_agg.mode,
        "secure_agg_parameters": chosen_parameters(
            cfg.secure_agg, engine.cohort, planned_dropout(cfg)
        )
        if cfg.secure_agg.mode != "none"
        else None,
        "privacy": statement,
    }
    write_json_atomic(run.summary_path, summary)
    return summary
