"""One run's exported model scored by both domain classifiers, on the same samples.

The rounds of a run log a domain FID from a classifier trained on the split no client holds
(``tracking_spec``); ``prism-secure evaluate`` uses one trained on the training split. This
draws ``--n`` samples of the exported model as the rounds do (the run's seed) and scores them
with both, beside the figure the run logged for its last round:

    python bench/domain_classifiers.py runs/NAME [--n 1000]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from prism_secure.app.tracking import public_split, tracking_spec
from prism_secure.artifacts.model_file import load_generator
from prism_secure.artifacts.rundir import RunDirectory
from prism_secure.evaluation import domain_metrics
from prism_secure.evaluation.domain_classifier import ClassifierSpec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("run", type=Path)
    ap.add_argument("--n", type=int, default=1000)
    args = ap.parse_args()
    run = RunDirectory.open(args.run)
    cfg = run.config()
    generator = load_generator(args.run)
    with torch.no_grad():
        images = generator.sample(args.n, seed=cfg.seed)
    dataset, root = cfg.data.dataset, cfg.data.root
    rounds_view = domain_metrics(
        images, dataset, root, spec=tracking_spec(cfg), reference_split=public_split(cfg)
    )
    evaluate_view = domain_metrics(images, dataset, root, spec=ClassifierSpec())
    logged = run.metrics()
    print(
        json.dumps(
            {
                "run": args.run.name,
                "n": args.n,
                "last_round_logged": logged[-1].get("domain_fid") if logged else None,
                "rounds_classifier": round(rounds_view["domain_fid"], 2),
                "evaluate_classifier": round(evaluate_view["domain_fid"], 2),
            }
        )
    )


if __name__ == "__main__":
    main()
