"""Training curves of a run directory from its metrics.jsonl, as one PNG of four panels."""

from __future__ import annotations

import io
import json
from pathlib import Path

from prism_secure.artifacts.atomic import write_bytes_atomic
from prism_secure.evaluation.errors import EvaluationError

PANELS = (
    ("domain_fid", "domain FID"),
    ("lambda", "MADA lambda"),
    ("mask_density", "mask density"),
    ("loss", "loss"),
)


def read_metrics(metrics_jsonl: Path) -> list[dict]:
    """Records of a metrics.jsonl that carry a "round"; blank or torn lines are skipped."""
    path = Path(metrics_jsonl)
    if not path.is_file():
        raise EvaluationError(f"metrics file not found: {path}")
    records = []
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict) and "round" in rec:
            records.append(rec)
    return records


def plot_training_curves(metrics_jsonl: Path, out_png: Path) -> Path:
    """Draw domain FID, lambda, mask density and loss against round; absent keys say so."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = read_metrics(metrics_jsonl)
    # Fixed margins, not tight_layout: measuring every tick label took half a second, longer
    # than a small run's rounds, and these panels' labels always fit.
    fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharex=True)
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.08, top=0.95, wspace=0.2, hspace=0.2)
    for ax, (key, title) in zip(axes.flat, PANELS, strict=True):
        points = [
            (r["round"], r[key])
            for r in records
            if isinstance(r.get(key), (int, float)) and r[key] is not None
        ]
        ax.set_title(title)
        ax.grid(alpha=0.3)
        if points:
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, marker="o" if len(xs) < 30 else None, markersize=3)
        else:
            ax.text(0.5, 0.5, "not recorded", ha="center", va="center", transform=ax.transAxes)
    for ax in axes[1]:
        ax.set_xlabel("round")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    write_bytes_atomic(Path(out_png), buf.getvalue())
    return Path(out_png)
