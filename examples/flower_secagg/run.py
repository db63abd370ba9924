"""Run the Flower example under prism-secure's SecAgg on loopback and check it: one command.

    python examples/flower_secagg/run.py --nodes 3 --rounds 3

It starts a SuperLink and ``--nodes`` SuperNodes as separate processes on 127.0.0.1 (Flower's
state in a temporary folder, never in your home), runs ``secagg-app`` (FedAvg; every update goes
through ``prism_secagg_mod`` and ``SecAggGrid``), stops every process, and replays each round in
this process from the same global arrays: the federated arrays must equal the plain weighted
mean of the surviving nodes' (clipped) updates within the round's stated quantisation bound, and
a round that aborted must leave them unchanged.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

APP = Path(__file__).resolve().parent / "secagg-app"
sys.path.insert(0, str(APP))

from secagg_app import task  # noqa: E402

from prism_secure.protocols.adapters.flower.loopback import LoopbackFederation  # noqa: E402


def run(args: argparse.Namespace, workdir: Path) -> dict:
    """What the ServerApp wrote (``out-file``): each round's arrays and secure-round summary."""
    out = workdir / "rounds.json"
    config = {
        "num-server-rounds": args.rounds,
        "min-nodes": args.nodes,
        "lr": args.lr,
        "local-steps": args.steps,
        "clip": args.clip,
        "threshold": args.threshold,
        "train-timeout": args.train_timeout,
        "phase-timeout": args.phase_timeout,
        "out-file": str(out),
        "test-faults": args.faults,
    }
    partitions = [{"partition-id": i, "num-partitions": args.nodes} for i in range(args.nodes)]
    # The warm SuperExec imports these libraries once and runs each node's ClientApps in one
    # process of that node's (or, with --forked-apps, forks one process per message).
    warm = None if args.cold else ("numpy", "prism_secure.protocols.adapters.flower.mod")
    resident = not args.forked_apps
    with LoopbackFederation(workdir, partitions, warm=warm, resident=resident) as federation:
        outcome = federation.run(APP, config, timeout=args.timeout, sign=out)
    if not outcome.completed:
        raise SystemExit(f"run {outcome.status}: {outcome.details}\n{outcome.log[-3000:]}")
    report = json.loads(out.read_text())
    if report["python"] != sys.executable:  # Flower's processes must import our installation
        raise SystemExit(f"the ServerApp ran under {report['python']}, not {sys.executable}")
    return report


def plain_mean(arrays: dict, survivors: list[int], args: argparse.Namespace) -> dict:
    """The weighted mean of the survivors' clipped updates, trained from ``arrays``, in float64."""
    results = [task.train(arrays, p, args.nodes, args.lr, args.steps) for p in survivors]
    total = sum(n for _, n in results)
    return {
        k: sum(np.clip(u[k].astype(np.float64), -args.clip, args.clip) * n for u, n in results)
        / total
        for k in arrays
    }


def check(report: dict, args: argparse.Namespace) -> list[str]:
    """One line per round; SystemExit if any round leaves its bound."""
    rounds = report["rounds"]
    if len(rounds) != args.rounds + 1:
        raise SystemExit(f"expected {args.rounds + 1} evaluations, got {len(rounds)}")
    lines = ["round  survivors  dropped (partition@phase)  max |federated - plain| / bound"]
    for before, entry in zip(rounds, rounds[1:], strict=False):
        prev = {k: np.asarray(v, np.float32) for k, v in before["arrays"].items()}
        got = {k: np.asarray(v, np.float32) for k, v in entry["arrays"].items()}
        sec = entry["secagg"]
        dropped = " ".join(f"{p}@{phase}" for p, phase in sorted(sec["dropped"].items())) or "-"
        if not sec["completed"]:
            if any(not np.array_equal(prev[k], got[k]) for k in prev):
                raise SystemExit(f"round {entry['round']} aborted but the model changed")
            lines.append(f"{entry['round']:5d}  aborted    {dropped:26s} nothing released")
            continue
        plain = plain_mean(prev, sec["survivors"], args)
        gaps = {k: float(np.abs(got[k].astype(np.float64) - plain[k]).max()) for k in got}
        bounds = sec["mean_error_bound"]
        worst = max(gaps, key=lambda k: gaps[k] / bounds[k])
        survivors = ",".join(map(str, sec["survivors"]))
        lines.append(
            f"{entry['round']:5d}  {survivors:9s}  {dropped:26s} "
            f"{gaps[worst]:.2e} / {bounds[worst]:.2e}"
        )
        if any(gaps[k] > bounds[k] for k in gaps):
            raise SystemExit("\n".join(lines) + f"\nround {entry['round']} exceeds its bound")
    for entry in rounds[1:]:
        for part, why in sorted(entry["secagg"]["refused"].items()):
            lines.append(
                f"round {entry['round']} refused partition {part}: {why['reason']} "
                f"{why['array']!r} (protocol client {why['client']}): {why['detail']}"
            )
    return lines


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--steps", type=int, default=5, help="local gradient steps per round")
    parser.add_argument("--clip", type=float, default=8.0, help="clipping range of an entry")
    parser.add_argument("--threshold", type=int, default=0, help="0: the parameter finder's")
    parser.add_argument("--train-timeout", type=float, default=120.0)
    parser.add_argument("--phase-timeout", type=float, default=30.0)
    parser.add_argument("--timeout", type=float, default=900.0, help="for the whole run")
    parser.add_argument("--workdir", type=Path, default=None, help="keep Flower's files here")
    parser.add_argument(
        "--cold",
        action="store_true",
        help="Flower's own SuperExec: a fresh interpreter for every message (slower)",
    )
    parser.add_argument(
        "--forked-apps",
        action="store_true",
        help="the warm SuperExec forks a ClientApp process per message, not one per node",
    )
    parser.add_argument("--faults", default="", help="TEST ONLY: see secagg_app/faults.py")
    args = parser.parse_args()
    if args.nodes < 2:
        parser.error("--nodes must be at least 2")
    return args


def main() -> None:
    args = parse()
    with tempfile.TemporaryDirectory(prefix="prism-flower-") as scratch:
        workdir = args.workdir or Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        report = run(args, workdir)
    print("\n".join(check(report, args)))
    print(
        f"ok: {args.nodes} SuperNodes, {args.rounds} rounds, each secure aggregate equals the "
        "plain weighted mean of its survivors' updates within its stated bound"
    )


if __name__ == "__main__":
    main()
