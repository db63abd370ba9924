"""``prism-secure audit RUN_DIR``: attack a trained generator and check its privacy claim.

Exit codes: 0 pass, 1 violation (a lower bound above the claimed epsilon, or a server view that
is not uniform), 2 the run directory or the options are unusable.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from pydantic import ValidationError
from rich import box
from rich.console import Console
from rich.table import Table

from prism_secure.audits.attack_names import ATTACK_NAMES
from prism_secure.errors import PrismError

if TYPE_CHECKING:
    from prism_secure.audits.report import AuditReport

#: ATTACK_HEADER's columns, named short enough for 80 columns.
TERMINAL_HEADER = ["attack", "AUC [95% CI]", "TPR@1%", "TPR@0.1%", "eps LB", "status"]


def attack_table(report: AuditReport) -> tuple[Table, list[str]]:
    """The attack table, one line per attack even at 80 columns, and the notes it leaves out.

    Cells never wrap: a skipped attack says "skipped" in its row and why in a note below.
    """
    from prism_secure.audits.report import attack_rows

    table = Table(box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False, show_edge=False)
    for col in TERMINAL_HEADER:
        table.add_column(col, no_wrap=True)
    notes = []
    for row in attack_rows(report):
        status = row[-1]
        if status.startswith("skipped: "):
            notes.append(f"{row[0]}: {status}")
            status = "skipped"
        table.add_row(*row[:-1], status)
    return table, notes


def _print_report(console: Console, report: AuditReport) -> None:
    console.print(f"[bold]Membership inference on {report.run_dir}[/]")
    table, notes = attack_table(report)
    console.print(table)
    for note in notes:
        console.print(note)
    claim = "none (DP off)" if report.claimed_epsilon is None else f"{report.claimed_epsilon:.3g}"
    console.print(
        f"{report.n_members} members vs {report.n_nonmembers} non-members "
        f"({report.nonmember_source}); claimed epsilon {claim}"
    )
    if report.canary is not None:
        c = report.canary
        console.print(
            f"canary audit: epsilon >= {c.epsilon_lower_bound:.3f} at {c.confidence:.0%} "
            f"confidence ({c.inserted}/{c.canaries} canaries inserted)"
        )
    else:
        console.print(f"canary audit: {report.canary_note}")
    for r in report.secagg:
        console.print(
            f"secure-aggregation view, round {r.round_index}: "
            f"{'pass' if r.audit.passed else '[bold red]FAIL[/]'}"
        )
    for w in report.warnings:
        console.print(f"[yellow]warning:[/] {w}")


def audit_command(
    run_dir: Path = typer.Argument(..., help="Run directory written by `prism-secure train`."),
    attacks: str = typer.Option(
        "all", "--attacks", help=f"Comma-separated, or 'all': {', '.join(ATTACK_NAMES)}."
    ),
    n_samples: int = typer.Option(10_000, "--n-samples", help="Samples drawn from the generator."),
    n_candidates: int = typer.Option(
        1000, "--n-candidates", help="Members tested (and as many non-members)."
    ),
    n_population: int = typer.Option(
        2000, "--n-population", help="Test-split records the attacker may use."
    ),
    reference: Path | None = typer.Option(
        None, "--reference", help="A run trained on other records, for the calibrated attack."
    ),
    n_boot: int = typer.Option(1000, "--n-boot", help="Bootstrap resamples for the AUC interval."),
    seed: int = typer.Option(0, "--seed", help="Seed of sampling, candidate choice, bootstrap."),
    strict: bool = typer.Option(
        False, "--strict", help="Also fail on the (non-randomised) threshold epsilon bound."
    ),
) -> None:
    """Audit a run for membership leakage; write audit.json, audit.md and roc.png into it."""
    from prism_secure.audits.attacks.registry import parse_attack_names
    from prism_secure.audits.pipeline import AuditSettings, audit_run_dir
    from prism_secure.audits.writer import write_reports

    console = Console()
    try:
        settings = AuditSettings(
            attacks=parse_attack_names(attacks),
            n_samples=n_samples,
            n_candidates=n_candidates,
            n_population=n_population,
            n_boot=n_boot,
            seed=seed,
            strict=strict,
        )
        with console.status("auditing") as status:
            outcome = audit_run_dir(
                run_dir, settings, reference=reference, progress=lambda s: status.update(s)
            )
        paths = write_reports(run_dir, outcome)
    except (PrismError, ValidationError) as exc:
        console.print(f"[bold red]audit failed:[/] {exc}")
        raise typer.Exit(code=2) from exc
    report = outcome.report
    _print_report(console, report)
    console.print("wrote " + ", ".join(str(p) for p in paths))
    if report.violations:
        console.rule("[bold red]PRIVACY VIOLATION")
        for v in report.violations:
            console.print(f"[bold red]VIOLATION:[/] {v}")
        console.rule()
        raise typer.Exit(code=1)
    console.print("[green]audit passed[/]: no violation found")
