"""Which binary mask to export: the mode of the final scores, or one Bernoulli draw from them.

Reads finished run directories (their ``checkpoints/latest.pt``), builds both exports from the same
final scores and scores 1000 samples of each with the domain metric (FID in a small classifier's
features, n = 1000 against the test split). Training is untouched by the choice, so this compares
the exports of one and the same run. Usage::

    python bench/final_mask.py runs/A runs/B ... [--draws 2] [--threads 1]
    python bench/final_mask.py runs/A --export-mode runs/A-mode   # a copy exporting the mode

The second form copies a run directory made with ``output.final_mask = "sample"`` and rewrites
its ``model.prism`` from the same checkpoint as the mode export, for ``prism-secure evaluate``.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import torch

from prism_secure.app.export import export_model
from prism_secure.app.generator import build_run_generator, final_mask
from prism_secure.config import RunConfig, stored_run_config
from prism_secure.evaluation.domain import domain_metrics


def load_for_mode_export(run: Path) -> tuple[RunConfig, torch.Tensor]:
    """A finished run's config, switched to the mode export, and its final scores."""
    cfg = stored_run_config((run / "config.json").read_text())
    cfg = cfg.model_copy(update={"output": cfg.output.model_copy(update={"final_mask": "mode"})})
    return cfg, torch.load(run / "checkpoints/latest.pt", weights_only=True)["scores"]


def score(run: Path, draws: int) -> dict:
    cfg, scores = load_for_mode_export(run)
    theta = torch.sigmoid(scores)
    gen = build_run_generator(cfg)
    masks = {"mode": torch.from_numpy(final_mask(cfg, scores))}
    for d in range(draws):
        g = torch.Generator().manual_seed(d)
        masks[f"draw{d}"] = torch.bernoulli(theta, generator=g).to(torch.uint8)
    row: dict = {
        "run": run.name,
        "undecided": float(((theta > 0.1) & (theta < 0.9)).float().mean()),
    }
    for name, mask in masks.items():
        gen.set_fixed_mask(mask.numpy())
        images = gen.sample(1000, seed=cfg.seed)
        row[name] = domain_metrics(images, cfg.data.dataset, cfg.data.root)["domain_fid"]
    return row


def export_mode(run: Path, dest: Path) -> Path:
    """Copy ``run`` to ``dest`` with ``model.prism`` rewritten as the mode of the final scores."""
    shutil.copytree(run, dest)
    (dest / "eval.json").unlink(missing_ok=True)
    cfg, scores = load_for_mode_export(run)
    export_model(cfg, scores, dest / "model.prism")
    return dest


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", type=Path, nargs="+")
    p.add_argument("--draws", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--export-mode", type=Path, default=None, help="Copy one run, mode export.")
    args = p.parse_args()
    if args.export_mode is not None:
        if len(args.runs) != 1:
            p.error("--export-mode takes exactly one run")
        print(export_mode(args.runs[0], args.export_mode))
        return
    torch.set_num_threads(args.threads)
    draws = [f"draw{d}" for d in range(args.draws)]
    print("| run | theta in (0.1, 0.9) | mode | " + " | ".join(draws) + " |")
    print("|---|---|---|" + "---|" * len(draws))
    for run in args.runs:
        row = score(run, args.draws)
        cells = " | ".join(f"{row[d]:.1f}" for d in draws)
        print(
            f"| {row['run']} | {row['undecided']:.2f} | {row['mode']:.1f} | {cells} |", flush=True
        )


if __name__ == "__main__":
    main()
