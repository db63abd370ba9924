"""``prism-secure train``: flags override the TOML file, which overrides the defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from prism_secure.config import RunConfig, build_config, parse_set_option
from prism_secure.errors import PrismError

#: Flags that set one config field each, by the field they set.
FIELDS = {
    "epsilon": "privacy.epsilon",
    "delta": "privacy.delta",
    "clip_norm": "privacy.clip_norm",
    "accountant": "privacy.accountant",
    "dataset": "data.dataset",
    "data_dir": "data.root",
    "clients": "partition.num_clients",
    "partition": "partition.scheme",
    "alpha": "partition.alpha",
    "rounds": "federation.rounds",
    "local_iters": "training.local_iters",
    "participation": "federation.participation",
    "dropout": "federation.dropout",
    "aggregator": "federation.aggregator",
    "engine": "federation.engine",
    "supernodes": "partition.num_clients",
    "secure_agg": "secure_agg.mode",
    "graph": "secure_agg.graph",
    "canaries": "audit.canaries",
    "arch": "model.arch",
    "conditional": "model.conditional",
    "device": "training.device",
    "seed": "seed",
    "name": "output.name",
    "runs_dir": "output.runs_dir",
}
#: Switches that set a field to a fixed value when given.
SWITCHES = {
    "no_download": ("data.download", False),
    "record_transcript": ("secure_agg.record_transcript", True),
    "overwrite": ("output.overwrite", True),
}


def overrides_of(flags: dict[str, Any], sets: list[str]) -> dict[str, Any]:
    """Dotted-key overrides from the command line: ``--set`` first, flags on top."""
    overrides: dict[str, Any] = dict(parse_set_option(s) for s in sets)
    if flags.get("no_dp"):
        if flags.get("epsilon") is not None:
            raise typer.BadParameter("--no-dp and --epsilon contradict each other")
        overrides["privacy.enabled"] = False
    elif flags.get("epsilon") is not None:
        overrides["privacy.enabled"] = True
    for flag, key in FIELDS.items():
        value = flags.get(flag)
        if value is not None:
            overrides[key] = str(value) if isinstance(value, Path) else value
    for flag, (key, value) in SWITCHES.items():
        if flags.get(flag):
            overrides[key] = value
    return overrides


def run_training(cfg: RunConfig, resume: Path | None, quiet: bool) -> Path:
    """Train on the configured engine, drawing progress on stderr."""
    from prism_secure.artifacts.rundir import RunDirectory
    from prism_secure.cli.progress import RichEvents

    if resume is not None:  # a resumed run keeps its own config, its engine included
        cfg = RunDirectory.open(resume).config()
    events = RichEvents(Console(stderr=True, quiet=quiet), enabled=not quiet)
    try:
        if cfg.federation.engine == "flower":
            from prism_secure.federation.flower.local import train_on_loopback

            return train_on_loopback(cfg, resume=resume, events=events)
        from prism_secure.app import train_run

        return train_run(cfg, resume=resume, events=events)
    finally:
        events.close()


def train_command(
    config: Path | None = typer.Option(None, "--config", "-c", help="TOML file with the run."),
    epsilon: float | None = typer.Option(None, help="Target epsilon per client (DP on)."),
    delta: float | None = typer.Option(None, help="DP delta; default is below 1/n per client."),
    no_dp: bool = typer.Option(False, "--no-dp", help="Turn differential privacy off."),
    clip_norm: float | None = typer.Option(None, help="Per-record feature clip norm C."),
    accountant: str | None = typer.Option(None, help="Opacus accountant: rdp or prv."),
    dataset: str | None = typer.Option(None, help="mnist, fashion_mnist, cifar10 or celeba."),
    data_dir: Path | None = typer.Option(None, help="Dataset root in torchvision's layout."),
    no_download: bool = typer.Option(False, "--no-download", help="Never download data."),
    clients: int | None = typer.Option(None, help="Number of clients."),
    partition: str | None = typer.Option(None, help="iid, shards, dirichlet or attribute."),
    alpha: float | None = typer.Option(None, help="Dirichlet concentration."),
    rounds: int | None = typer.Option(None, help="Federated rounds."),
    local_iters: int | None = typer.Option(None, help="Local iterations per round."),
    participation: float | None = typer.Option(None, help="Fraction of clients per round."),
    dropout: float | None = typer.Option(None, help="Probability a client vanishes in a round."),
    aggregator: str | None = typer.Option(None, help="mada or fedpm."),
    engine: str | None = typer.Option(None, help="in-process (default) or flower."),
    supernodes: int | None = typer.Option(
        None, help="With --engine flower: SuperNodes on loopback, one per client."
    ),
    secure_agg: str | None = typer.Option(None, help="pairwise (default), he, or none."),
    graph: str | None = typer.Option(None, help="SecAgg graph: full or sparse (SecAgg+)."),
    record_transcript: bool = typer.Option(False, help="Keep the server's view for audits."),
    canaries: int | None = typer.Option(None, help="Canary records for a one-run audit."),
    arch: str | None = typer.Option(None, help="dcgan28 or resnet32."),
    conditional: bool | None = typer.Option(
        None,
        "--conditional/--unconditional",
        help="Label-conditional generator, per-class moments (model.conditional).",
    ),
    device: str | None = typer.Option(None, help="cpu or cuda."),
    seed: int | None = typer.Option(None, help="Run seed (public randomness)."),
    name: str | None = typer.Option(None, help="Run name under --runs-dir."),
    runs_dir: Path | None = typer.Option(None, help="Where run folders go (default runs/)."),
    overwrite: bool = typer.Option(False, help="Replace an existing run of the same name."),
    resume: Path | None = typer.Option(None, help="Continue the run in this folder."),
    set_: list[str] = typer.Option([], "--set", help="Any config key: --set training.lr=0.05"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Train a masked generator across clients with DP and secure aggregation."""
    flags = {k: v for k, v in locals().items() if k not in ("config", "resume", "set_", "quiet")}
    console = Console(stderr=True)
    if supernodes is not None and engine not in (None, "flower"):
        raise typer.BadParameter("--supernodes needs --engine flower")
    if supernodes is not None:
        flags["engine"] = "flower"
    try:
        cfg = build_config(config, overrides_of(flags, set_))
        path = run_training(cfg, resume, quiet)
    except PrismError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(code=2) from exc
    typer.echo(str(path))
