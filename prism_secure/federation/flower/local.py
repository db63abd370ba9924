"""A Flower run on one machine: ``prism-secure train --engine flower --supernodes N``.

It starts a SuperLink and N SuperNodes as real processes on loopback, one per partition, each
with its own state folder under the run directory (``sites/site-NNN``: in a real deployment
that folder lives at the site), submits the PRISM app, follows its rounds, and stops every
process it started, whatever happens.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from prism_secure.app.events import SilentEvents, TrainingEvents
from prism_secure.artifacts.atomic import write_json_atomic
from prism_secure.artifacts.rundir import RunDirectory
from prism_secure.config import RunConfig
from prism_secure.data.roots import resolve_data_root
from prism_secure.errors import ConfigError, PrismError, RunDirError
from prism_secure.federation.flower.site_round import TRAINING_MODULES
from prism_secure.protocols.adapters.flower.loopback import LoopbackFederation
from prism_secure.protocols.adapters.flower.runs import RunOutcome
from prism_secure.protocols.adapters.flower.warm_superexec import forked_early

APP_DIR = Path(__file__).resolve().parent / "flower-app"
#: Imported once by the trial's warm SuperExec, which forks the ServerApp and every ClientApp.
WARM_MODULES = (
    "prism_secure.federation.flower.client_app",
    "prism_secure.federation.flower.server_run",
    *TRAINING_MODULES,
)


class FlowerRunError(PrismError):
    """The Flower run did not complete; the message holds its status and the end of its log."""


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so every process is stopped on the way out."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def host_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def train_slots(cfg: RunConfig, cores: int | None = None) -> int:
    """How many local sites train at once: as many as the cores hold at the run's threads."""
    cores = cores or host_cores()
    return max(1, cores // (cfg.training.threads or cores))


def site_configs(cfg: RunConfig, run: RunDirectory) -> list[dict[str, object]]:
    """The node config of each local SuperNode: its partition, the data folder, its state.

    The sites share this machine's cores, so they take turns to train (``train-slots``).
    """
    n = cfg.partition.num_clients
    data = resolve_data_root(cfg.data.root).resolve()
    return [
        {
            "partition-id": i,
            "num-partitions": n,
            "data-dir": str(data),
            "state-dir": str(run.path / "sites" / f"site-{i:03d}"),
            "train-slots": train_slots(cfg),
            "train-slots-dir": str(run.path / "flower" / "train-slots"),
        }
        for i in range(n)
    ]


def _new_run(cfg: RunConfig) -> RunDirectory:
    """Check the data and the partition first, then create the run with its membership file."""
    from prism_secure.app.inputs import load_inputs
    from prism_secure.privacy import check_release_parameters

    inputs = load_inputs(cfg)  # fails before anything is written if the data is missing
    check_release_parameters(cfg.privacy, inputs.bound)
    run = RunDirectory.create(cfg)
    # Operator-only, as in-process: the one-machine trial knows each site's records.
    write_json_atomic(run.membership_path, inputs.membership.model_dump(mode="json"))
    return run


def _follow(
    fed: LoopbackFederation, run_id: str, run: RunDirectory, events: TrainingEvents, timeout: float
) -> RunOutcome:
    """Report rounds as the ServerApp writes them, until the run ends.

    Asking Flower for the run's status starts a CLI process (about a CPU-second), so it is asked
    every 30 s until the ServerApp has written its summary, then until the run has ended; its
    log is fetched only for a run that did not complete.
    """
    seen, start, last_status = 0, time.monotonic(), time.monotonic()
    while time.monotonic() - start < timeout:
        ended = run.summary_path.exists()  # before the rows: the last row precedes the summary
        rows = run.metrics()
        for record in rows[seen:]:
            events.round_finished(record)
        seen = len(rows)
        if ended:
            break
        if time.monotonic() - last_status > 30.0:  # a run that died without its summary
            status, _ = fed.status(run_id)
            last_status = time.monotonic()
            if status.startswith("finished"):
                break
        time.sleep(0.5)
    remaining = max(1.0, timeout - (time.monotonic() - start))
    return fed.wait(run_id, timeout=remaining, poll=2.0, sign=run.summary_path, log=False)


def train_on_loopback(
    cfg: RunConfig,
    *,
    resume: Path | None = None,
    events: TrainingEvents | None = None,
    tls: bool = False,
    auth: bool = False,
    timeout: float = 48 * 3600.0,
    warm: bool = True,
) -> Path:
    """Train (or resume) a run on a local Flower deployment; the run directory.

    ``warm`` serves the SuperNodes with one warm SuperExec that runs each site's ClientApps in
    one resident process of that site's, forked from the app's imported modules (the SuperExec
    itself forked from this process, which imports them anyway); without
    it, Flower's own SuperExec starts a fresh interpreter for every message (the same result,
    more slowly).
    """
    events = events or SilentEvents()
    early = forked_early(WARM_MODULES) if warm else contextlib.nullcontext(None)
    with _sigterm_as_interrupt(), early as prewarmed:  # forked before any torch computation
        if resume is not None:
            run = RunDirectory.open(resume)
            cfg = run.config()
        elif cfg.federation.engine != "flower":
            raise ConfigError("federation.engine", "must be 'flower' to train on Flower")
        else:
            run = _new_run(cfg)
        if cfg.federation.engine != "flower":
            raise RunDirError(
                f"{run.path} was trained in-process; resume it without --engine flower"
            )
        with LoopbackFederation(
            run.path / "flower",
            site_configs(cfg, run),
            tls=tls,
            auth=auth,
            warm=WARM_MODULES if warm else None,
            prewarmed=prewarmed,
        ) as fed:
            events.rounds_started(len(run.metrics()) + 1, cfg.federation.rounds, 0)
            run_id = fed.submit(APP_DIR, {"run-dir": str(run.path)})
            outcome = _follow(fed, run_id, run, events, timeout)
    if not outcome.completed:
        raise FlowerRunError(
            f"the Flower run {outcome.run_id} ended {outcome.status}: {outcome.details}\n"
            f"{outcome.log[-3000:]}"
        )
    summary = json.loads(run.summary_path.read_text())
    events.run_finished(run.path, summary)
    return run.path
