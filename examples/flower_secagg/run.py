"""Run the Flower example on loopback and check it: one command, real SuperLink and SuperNodes.

    python examples/flower_secagg/run.py --nodes 3 --rounds 3

It starts a SuperLink and ``--nodes`` SuperNodes as separate processes on 127.0.0.1 (Flower's
state in a temporary folder, never in your home), runs ``secagg-app`` with FedAvg, stops every
process, and replays the same rounds in this process: the federated global arrays must match the
plain FedAvg of the same updates (to float32 rounding), round after round.
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

TOLERANCE = 1e-5  # float32 sums in another order: Flower's FedAvg against the replay


def run(args: argparse.Namespace, workdir: Path) -> dict:
    """The per-round global arrays the ServerApp wrote (``out-file``)."""
    out = workdir / "rounds.json"
    nodes = args.nodes
    config = {
        "num-server-rounds": args.rounds,
        "min-nodes": nodes,
        "lr": args.lr,
        "local-steps": args.steps,
        "out-file": str(out),
    }
    partitions = [{"partition-id": i, "num-partitions": nodes} for i in range(nodes)]
    with LoopbackFederation(workdir, nodes=partitions) as federation:
        outcome = federation.run(APP, config, timeout=args.timeout)
    if not outcome.completed:
        raise SystemExit(f"run {outcome.status}: {outcome.details}\n{outcome.log[-3000:]}")
    report = json.loads(out.read_text())
    if report["python"] != sys.executable:  # Flower's processes must import our installation
        raise SystemExit(f"the ServerApp ran under {report['python']}, not {sys.executable}")
    return report


def compare(federated: dict, nodes: int, rounds: int, lr: float, steps: int) -> float:
    """Print each round's loss and its distance from the replay; return the largest."""
    replay = task.replay(nodes, rounds, lr, steps)
    worst = 0.0
    print("round  central loss  max |federated - plain FedAvg|")
    for entry in federated["rounds"]:
        plain = replay[entry["round"]]
        gap = max(float(np.abs(np.asarray(v) - plain[k]).max()) for k, v in entry["arrays"].items())
        worst = max(worst, gap)
        print(f"{entry['round']:5d}  {entry['loss']:12.5f}  {gap:.2e}")
    if len(federated["rounds"]) != rounds + 1:
        raise SystemExit(f"expected {rounds + 1} evaluations, got {len(federated['rounds'])}")
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--steps", type=int, default=5, help="local gradient steps per round")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--workdir", type=Path, default=None, help="keep Flower's files here")
    args = parser.parse_args()
    if args.nodes < 2:
        parser.error("--nodes must be at least 2")
    with tempfile.TemporaryDirectory(prefix="prism-flower-") as scratch:
        workdir = args.workdir or Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        federated = run(args, workdir)
    worst = compare(federated, args.nodes, args.rounds, args.lr, args.steps)
    if worst > TOLERANCE:
        raise SystemExit(f"federated arrays differ from plain FedAvg by {worst:.2e}")
    print(f"ok: {args.nodes} SuperNodes, {args.rounds} rounds, matches plain FedAvg")


if __name__ == "__main__":
    main()
