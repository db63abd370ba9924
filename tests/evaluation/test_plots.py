"""Training-curve plots from a run's metrics.jsonl."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prism_secure.evaluation import EvaluationError
from prism_secure.evaluation.plots import plot_training_curves, read_metrics


def test_plot_training_curves(tmp_path: Path) -> None:
    lines = [
        {"round": r, "loss": 1.0 / (r + 1), "lambda": 0.2, "mask_density": 0.5 + 0.01 * r}
        | ({"domain_fid": 100.0 - r} if r % 2 == 0 else {})
        for r in range(6)
    ]
    path = tmp_path / "metrics.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n{torn")
    assert len(read_metrics(path)) == 6
    out = plot_training_curves(path, tmp_path / "curves.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # A run without domain FID still plots (that panel says "not recorded").
    path.write_text(json.dumps({"round": 0, "loss": 1.0}) + "\n")
    plot_training_curves(path, tmp_path / "curves.png")
    with pytest.raises(EvaluationError):
        plot_training_curves(tmp_path / "absent.jsonl", tmp_path / "x.png")
