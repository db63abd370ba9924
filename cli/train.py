"""``prism-secure train``: flags override the TOML file, which overrides the defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from prism_secure.config import build_config, parse_set_option
from prism_secure.errors import PrismError


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
    console = Console(stderr=True)
    overrides: dict[str, Any] = dict(parse_set_option(s) for s in set_)
    flags: dict[str, Any] = {
        "privacy.epsilon": epsilon,
        "privacy.delta": delta,
        "privacy.clip_norm": clip_norm,
        "privacy.accountant": accountant,
        "data.dataset": dataset,
        "data.root": data_dir,
        "partition.num_clients": clients,
        "partition.scheme": partition,
        "partition.alpha": alpha,
        "federation.rounds": rounds,
        "training.local_iters": local_iters,
        "federation.participation": participation,
        "federation.dropout": dropout,
        "federation.aggregator": aggregator,
        "secure_agg.mode": secure_agg,
        "secure_agg.graph": graph,
        "audit.canaries": canaries,
        "model.arch": arch,
        "model.conditional": conditional,
        "training.device": device,
        "seed": seed,
        "output.name": name,
        "output.runs_dir": runs_dir,
    }
    if no_dp:
        if epsilon is not None:
            raise typer.BadParameter("--no-dp and --epsilon contradict each other")
        flags["privacy.enabled"] = False
    elif epsilon is not None:
        flags["privacy.enabled"] = True
    if no_download:
        flags["data.download"] = False
    if record_transcript:
        flags["secure_agg.record_transcript"] = True
    if overwrite:
        flags["output.overwrite"] = True
    overrides.update(
        {k: (str(v) if isinstance(v, Path) else v) for k, v in flags.items() if v is not None}
    )
    from prism_secure.app import train_run
    from prism_secure.cli.progress import RichEvents

    events = RichEvents(Console(stderr=True, quiet=quiet), enabled=not quiet)
    try:
        cfg = build_config(config, overrides)
        path = train_run(cfg, resume=resume, events=events)
    except PrismError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(code=2) from exc
    finally:
        events.close()
    typer.echo(str(path))
