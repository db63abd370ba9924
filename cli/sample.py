"""``prism-secure sample MODEL``: a PNG grid from an exported model or a run directory."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from prism_secure.errors import PrismError


def sample_command(
    model: Path = typer.Argument(..., help="model.prism, or a run directory holding one."),
    n: int = typer.Option(64, "--n", min=1, help="Number of images."),
    out: Path = typer.Option(Path("samples.png"), "--out", "-o", help="PNG file to write."),
    seed: int | None = typer.Option(0, help="Latent seed (omit with --random)."),
    nrow: int = typer.Option(8, help="Images per row."),
) -> None:
    """Draw N samples from a model (or a run directory) and write them as one PNG grid."""
    from prism_secure.artifacts.images import save_grid
    from prism_secure.artifacts.model_file import load_generator

    try:
        gen = load_generator(model)
    except PrismError as exc:
        Console(stderr=True).print(f"[red]error:[/] {exc}")
        raise typer.Exit(code=2) from exc
    save_grid(gen.sample(n, seed=seed), out, nrow=nrow)
    typer.echo(str(out))
