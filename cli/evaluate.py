"""``prism-secure evaluate RUN_DIR_or_MODEL``: FID, PRDC and domain metrics into eval.json."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from prism_secure.errors import PrismError

if TYPE_CHECKING:
    from prism_secure.evaluation.report import EvalReport


def _resolve_target(
    target: Path, dataset: str | None, data_dir: Path | None
) -> tuple[Path, str, Path | None, Path]:
    """(model file, dataset, data root, default eval.json path) of a run directory or model."""
    from prism_secure.artifacts.model_file import decode_model
    from prism_secure.artifacts.rundir import RunDirectory
    from prism_secure.errors import ModelFileError, RunDirError

    if target.is_dir():
        run = RunDirectory.open(target)
        cfg = run.config()
        if dataset is not None and dataset != cfg.data.dataset:
            raise RunDirError(f"--dataset {dataset} differs from the run's {cfg.data.dataset}")
        root = data_dir if data_dir is not None else cfg.data.root
        return run.model_path, cfg.data.dataset, root, target / "eval.json"
    if not target.is_file():
        raise ModelFileError(f"{target} is neither a run directory nor a model file")
    header, _ = decode_model(target.read_bytes())
    recorded = header.dataset
    if dataset is not None and recorded is not None and dataset != recorded:
        raise ModelFileError(f"--dataset {dataset} differs from the model's {recorded}")
    chosen = dataset or recorded
    if chosen is None:
        raise ModelFileError(f"{target} records no dataset; pass --dataset")
    return target, chosen, data_dir, target.parent / "eval.json"


def _table(report: EvalReport) -> Table:
    table = Table(title=f"{report.dataset}: n={report.n}, seed={report.seed}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column(f"floor (real train, n={report.n})", justify="right")
    for row in report.summary_rows():
        table.add_row(*row)
    return table


def evaluate_command(
    target: Path = typer.Argument(..., help="A run directory (config.json, model.prism) or model."),
    n: int = typer.Option(10000, "--n", min=6, help="Samples (and reference images) to compare."),
    inception: Path | None = typer.Option(
        None,
        "--inception",
        help="TorchScript pt_inception-2015-12-05 file (else $PRISM_SECURE_INCEPTION, else an "
        "installed torch-fidelity / torchmetrics / pytorch-fid).",
    ),
    data_dir: Path | None = typer.Option(
        None, "--data-dir", help="Dataset root (else the run's, else $PRISM_SECURE_DATA)."
    ),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
    cache_dir: Path | None = typer.Option(
        None, "--cache-dir", help="Reference cache (else $PRISM_SECURE_CACHE, else ~/.cache)."
    ),
    metrics: str = typer.Option("fid,prdc,domain", "--metrics", help="Comma-separated subset."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Report path (default eval.json)."),
    dataset: str | None = typer.Option(
        None, "--dataset", help="Only for a model file that records no dataset."
    ),
    seed: int = typer.Option(0, "--seed", help="Sampling seed."),
    floor: bool = typer.Option(True, "--floor/--no-floor", help="Also score real train images."),
    threads: int | None = typer.Option(None, "--threads", min=1, help="torch CPU threads."),
    backend: str = typer.Option(
        "auto",
        "--backend",
        help="What runs the Inception file: auto (ONNX Runtime on a CPU where installed, about "
        "2x faster), onnxruntime, or torch.",
    ),
) -> None:
    """Score a trained generator against the test split and write eval.json."""
    from prism_secure.artifacts.model_file import load_generator
    from prism_secure.evaluation import evaluate_samples

    console = Console(stderr=True)
    bars = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )

    def stage(description: str, total: int) -> Callable[[int], None]:
        task = bars.add_task(description, total=total)
        return lambda k: bars.advance(task, k)

    try:
        model_path, ds, root, default_out = _resolve_target(Path(target), dataset, data_dir)
        gen = load_generator(model_path, device=device)
        with bars:
            report = evaluate_samples(
                lambda k, s: gen.sample(k, seed=s),
                ds,
                root,
                n=n,
                metrics=metrics,
                inception=inception,
                cache_dir=cache_dir,
                device=device,
                seed=seed,
                floor=floor,
                threads=threads,
                backend=backend,  # type: ignore[arg-type]  # load_inception names a bad value
                log=lambda msg: console.print(f"[dim]{msg}[/]"),
                stage=stage,
            )
    except PrismError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(code=2) from exc
    report.model = str(model_path)
    path = out or default_out
    report.save(path)
    shown = Console()
    shown.print(_table(report))
    if report.inception is not None and report.inception.images_per_second:
        shown.print(
            f"Inception: {report.inception.images_per_second:.2f} images/s on "
            f"{report.inception.device} ({report.inception.threads} threads, "
            f"{report.inception.backend})"
        )
    for note in report.notes:
        shown.print(f"[yellow]note:[/] {note}")
    typer.echo(str(path))
