"""Writing the audit's reports into the run directory, atomically, touching nothing else."""

from __future__ import annotations

import json
from pathlib import Path

from prism_secure.artifacts.atomic import write_bytes_atomic, write_json_atomic, write_text_atomic
from prism_secure.audits.core import AuditOutcome
from prism_secure.audits.report import render_markdown, render_roc_png


def write_reports(run_dir: Path, outcome: AuditOutcome) -> list[Path]:
    """Write audit.json, audit.md and (when any attack ran) roc.png; return their paths."""
    run_dir = Path(run_dir)
    paths = [run_dir / "audit.json", run_dir / "audit.md"]
    write_json_atomic(paths[0], json.loads(outcome.report.model_dump_json()))
    write_text_atomic(paths[1], render_markdown(outcome.report))
    if outcome.scores:
        paths.append(run_dir / "roc.png")
        write_bytes_atomic(paths[2], render_roc_png(outcome.scores))
    return paths
