"""One row of the quality table: train a configuration, evaluate it, print a Markdown row.

The paper's settings at CPU scale: 10 clients, label shards or IID, PRISM (MADA) against FedPM
(no MADA) and a dense FedAvg baseline of the same generator and loss sending float32, with and
without DP. Each row is one command, for example:

    python bench/quality.py --dataset mnist --partition shards --method prism --epsilon 8
    python bench/quality.py --dataset mnist --partition shards --method dense --no-dp

``--fid`` adds Inception FID and PRDC (``$PRISM_SECURE_INCEPTION`` names the network; about
14 images/s on 2 cores with ONNX Runtime, so the default n = 5000 costs about 6 minutes once the
references are cached); the domain metric (FID in a small MNIST classifier's features) is always
computed. Rows go to stdout and, as JSON, to ``--out``. ``--config`` starts from a TOML preset
(``examples/quality_preset.toml``), ``--set KEY=VALUE`` overrides any key, and ``--name``
keeps rows that differ only in ``--set`` apart:

    python bench/quality.py --config examples/quality_preset.toml --epsilon 8 --fid --name preset
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from prism_secure.app import train_run
from prism_secure.artifacts.model_file import load_generator
from prism_secure.config import build_config
from prism_secure.evaluation import evaluate_samples

METHODS = {
    "prism": {"federation.aggregator": "mada"},
    "fedpm": {"federation.aggregator": "fedpm"},
    "dense": {"model.dense": True, "secure_agg.mode": "none"},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dataset", default="mnist", choices=["mnist", "fashion_mnist"])
    ap.add_argument("--partition", default="shards", choices=["shards", "iid"])
    ap.add_argument("--method", default="prism", choices=sorted(METHODS))
    ap.add_argument("--epsilon", type=float, default=None)
    ap.add_argument("--no-dp", action="store_true")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--local-iters", type=int, default=None)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--n-eval", type=int, default=5000)
    ap.add_argument("--fid", action="store_true", help="Also Inception FID and PRDC.")
    ap.add_argument("--runs-dir", type=Path, default=Path("runs/quality"))
    ap.add_argument("--out", type=Path, default=Path("runs/quality/rows.jsonl"))
    ap.add_argument("--set", dest="sets", action="append", default=[], help="KEY=VALUE (TOML)")
    ap.add_argument("--config", type=Path, default=None, help="A TOML preset to start from.")
    ap.add_argument("--name", default=None, help="Run name (default: from the arguments).")
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()
    if args.no_dp == (args.epsilon is not None):
        ap.error("give exactly one of --epsilon E and --no-dp")

    from prism_secure.config import parse_set_option

    dp = "nodp" if args.no_dp else f"eps{args.epsilon:g}"
    name = args.name or f"{args.dataset}-{args.partition}-{args.method}-{dp}"
    overrides: dict[str, object] = {
        "data.dataset": args.dataset,
        "partition.scheme": args.partition,
        "privacy.enabled": not args.no_dp,
        "output.runs_dir": str(args.runs_dir),
        "output.name": name,
        "output.overwrite": True,
        **METHODS[args.method],
    }
    if args.epsilon is not None:
        overrides["privacy.epsilon"] = args.epsilon
    if args.rounds:
        overrides["federation.rounds"] = args.rounds
    if args.local_iters:
        overrides["training.local_iters"] = args.local_iters
    if args.threads:
        overrides["training.threads"] = args.threads
    if args.seed is not None:
        overrides["seed"] = args.seed
    overrides.update(dict(parse_set_option(s) for s in args.sets))
    cfg = build_config(args.config, overrides)

    start = time.perf_counter()
    run = train_run(cfg)
    wall = time.perf_counter() - start
    gen = load_generator(run)
    metrics = ("fid", "prdc", "domain") if args.fid else ("domain",)
    report = evaluate_samples(
        lambda n, seed: gen.sample(n, seed=seed),
        cfg.data.dataset,
        cfg.data.root,
        n=args.n_eval,
        metrics=metrics,
        threads=args.threads,
    )
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    summary = json.loads((run / "summary.json").read_text())
    bits = sum(r.get("bits_up_per_param", 0.0) for r in rows) / max(1, len(rows))
    up_total = sum(r.get("bytes_up_per_client", 0.0) for r in rows)
    down_total = sum(r.get("bytes_down_per_client", 0.0) for r in rows)
    row = {
        "name": name,
        "rounds": cfg.federation.rounds,
        "local_iters": cfg.training.local_iters,
        "n_eval": args.n_eval,
        "fid": report.fid,
        "fid_floor": report.fid_floor,
        "prdc": report.prdc.model_dump() if report.prdc else None,
        "domain_fid": report.domain.domain_fid if report.domain else None,
        "domain_fid_floor": report.domain_fid_floor,
        "classes_covered": report.domain.classes_covered if report.domain else None,
        "domain_fid_by_round": {r["round"]: r["domain_fid"] for r in rows if "domain_fid" in r},
        "bits_up_per_param_per_round": bits,
        "upload_per_client_bytes": up_total,
        "download_per_client_bytes": down_total,
        "model_bytes": summary["model_bytes"],
        "train_wall_s": wall,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("a") as fh:
        fh.write(json.dumps(row) + "\n")
    p = row["prdc"] or {}
    fmt = lambda v: "-" if v is None else f"{v:.3g}"  # noqa: E731
    print(
        f"| {name} | {fmt(row['fid'])} (floor {fmt(row['fid_floor'])}) | "
        f"{fmt(p.get('precision'))} | {fmt(p.get('recall'))} | {fmt(p.get('density'))} | "
        f"{fmt(p.get('coverage'))} | {fmt(row['domain_fid'])} (floor "
        f"{fmt(row['domain_fid_floor'])}) | {row['classes_covered']} | {bits:.2f} | "
        f"{up_total / 1e6:.1f} MB | {row['model_bytes'] / 1024:.0f} KiB | {wall / 60:.1f} min |"
    )


if __name__ == "__main__":
    main()
