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
    nrow: int | None = typer.Option(
        None, min=1, help="Images per row (default 8, or one column per class)."
    ),
    label: int | None = typer.Option(
        None, min=0, help="Conditional models: draw only this class (default: all, balanced)."
    ),
) -> None:
    """Draw N samples from a model (or a run directory) and write them as one PNG grid."""
    import torch

    from prism_secure.artifacts.images import grid_columns, save_grid
    from prism_secure.artifacts.model_file import load_generator

    try:
        gen = load_generator(model)
    except PrismError as exc:
        Console(stderr=True).print(f"[red]error:[/] {exc}")
        raise typer.Exit(code=2) from exc
    labels = None
    if label is not None:
        if not 0 <= label < gen.num_classes:
            Console(stderr=True).print(
                f"[red]error:[/] --label {label}: this model reads "
                + (f"labels 0..{gen.num_classes - 1}" if gen.num_classes else "no labels")
            )
            raise typer.Exit(code=2)
        labels = torch.full((n,), label, dtype=torch.long)
    cols = nrow or (8 if labels is not None else grid_columns(gen))
    save_grid(gen.sample(n, seed=seed, labels=labels), out, nrow=cols)
    typer.echo(str(out))
