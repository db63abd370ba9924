"""Power of the membership audit: a deliberately leaky run (few records per client, no DP, many
rounds) against the same run at epsilon 1. Writes both audits into the runs' folders and prints a
Markdown table for BENCHMARKS.md.

The configuration that leaks measurably on 2 cores (one client with 32 records, 5,000 steps at a
narrow bandwidth; ``--dense`` for the dense generator, without it the masked one)::

    python bench/audit_power.py --runs-dir /tmp/ap --secure-agg none --clients 1 --records 32 \
        --rounds 10 --local-iters 500 --bandwidths 0.2 0.35 --width 16 --n-samples 5000 \
        --dense --lr 0.002
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from prism_secure.app import train_run
from prism_secure.audits.pipeline import AuditSettings, audit_run_dir
from prism_secure.audits.writer import write_reports
from prism_secure.config import RunConfig


def leaky_config(args: argparse.Namespace, name: str, epsilon: float | None) -> RunConfig:
    """Few records per client and many rounds: the generator can fit each client's records."""
    return RunConfig.model_validate(
        {
            "seed": args.seed,
            "data": {
                "dataset": "mnist",
                "download": False,
                "max_records_per_client": args.records,
                "holdout": args.holdout,
                "split": args.split,
            },
            "partition": {"scheme": "iid", "num_clients": args.clients},
            "federation": {"rounds": args.rounds},
            "model": {"width": args.width, "dense": args.dense},
            "features": {
                "kind": args.features,
                "rff_dim": args.rff_dim,
                "bandwidths": args.bandwidths,
            },
            "training": {
                "local_iters": args.local_iters,
                "threads": args.threads,
                "batch_size": 32,
                "lr": args.lr,
                "device": args.device,
            },
            "secure_agg": {"mode": args.secure_agg},
            "privacy": {"enabled": epsilon is not None, "epsilon": epsilon or 1.0},
            "audit": {"canaries": args.canaries},
            "output": {
                "runs_dir": str(args.runs_dir),
                "name": name,
                "overwrite": True,
                "track_domain_fid": False,
            },
        }
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--runs-dir", type=Path, default=Path("runs/audit_power"))
    p.add_argument("--rounds", type=int, default=60)
    p.add_argument("--local-iters", type=int, default=20)
    p.add_argument("--clients", type=int, default=10)
    p.add_argument("--records", type=int, default=16)
    p.add_argument("--holdout", type=int, default=2000)
    p.add_argument("--canaries", type=int, default=0)
    p.add_argument("--n-samples", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--width", type=int, default=8, help="Small generator: CPU-sized experiment.")
    p.add_argument("--features", default="rff", choices=["rff", "randconv", "rff+randconv"])
    p.add_argument("--rff-dim", type=int, default=512)
    p.add_argument("--only", choices=["nodp", "eps1"], default=None)
    p.add_argument("--bandwidths", type=float, nargs="+", default=[0.5, 1.0, 2.0])
    p.add_argument(
        "--split",
        default="train",
        choices=["train", "test"],
        help="'test' trains a reference generator (run name 'reference'), audited against nothing.",
    )
    p.add_argument(
        "--reference",
        type=Path,
        default=None,
        help="Reference run for the calibrated attack; an already trained run of the same "
        "name is audited again, not retrained.",
    )
    p.add_argument("--dense", action="store_true", help="Train weights densely, no masks.")
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--secure-agg",
        default="pairwise",
        choices=["pairwise", "none"],
        help="The sum is exact either way; 'none' suits machines without cryptography.",
    )
    p.add_argument("--tag", default="", help="Suffix for run names (parallel variants).")
    args = p.parse_args()
    rows = []
    if args.split == "test":
        run = train_run(leaky_config(args, f"reference{args.tag}", None))
        print(json.dumps({"reference": str(run)}))
        return
    for name, eps in (("nodp", None), ("eps1", 1.0)):
        if args.only and name != args.only:
            continue
        cfg = leaky_config(args, f"leaky_{name}{args.tag}", eps)
        t0 = time.perf_counter()
        run = cfg.output.runs_dir / cfg.output.name
        if args.reference is None or not (run / "model.prism").is_file():
            run = train_run(cfg)
        t_train = time.perf_counter() - t0
        settings = AuditSettings(n_samples=args.n_samples, n_candidates=1000, seed=args.seed)
        t0 = time.perf_counter()
        outcome = audit_run_dir(run, settings, reference=args.reference)
        write_reports(run, outcome)
        t_audit = time.perf_counter() - t0
        r = outcome.report
        for a in r.attacks:
            if a.roc is None:
                continue
            rows.append(
                f"| {name} | {a.name} | {a.roc.auc:.3f} [{a.roc.auc_ci_low:.3f}, "
                f"{a.roc.auc_ci_high:.3f}] | {a.roc.tpr_at_fpr['0.01']:.3f} | "
                f"{a.roc.tpr_at_fpr['0.001']:.3f} | "
                f"{a.epsilon.epsilon_lower_bound if a.epsilon else 0:.2f} | "
                f"{r.n_members}/{r.n_nonmembers} |"
            )
        canary = r.canary.epsilon_lower_bound if r.canary else None
        print(
            json.dumps(
                {
                    "run": str(run),
                    "train_s": round(t_train, 1),
                    "audit_s": round(t_audit, 1),
                    "claimed": r.claimed_epsilon,
                    "canary_lb": canary,
                    "violations": r.violations,
                }
            )
        )
    print("| run | attack | AUC [95% CI] | TPR@1% | TPR@0.1% | eps LB | members/non |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
