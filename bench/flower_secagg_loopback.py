"""prism-secure's SecAgg over real Flower messages: the mod and SecAggGrid on loopback.

A SuperLink and ``--n`` SuperNodes as separate processes on 127.0.0.1 run
``bench/flower-secagg-app`` (FedAvg; every node returns a random float32 update of ``--d``
entries): each round is one train exchange plus four protocol exchanges, every message a real
Flower message through the SuperLink, every node message a ClientApp process of its own (forked by
the warm SuperExec; ``--cold``: a fresh interpreter, Flower's own SuperExec). Reported per
round: wall seconds (between FedAvg's round ends), each exchange's seconds, the protocol server's
compute seconds, and the bytes Flower carried per client each way (every serialised object of
every message). Usage::

    nice python bench/flower_secagg_loopback.py --n 10 --d 100000 --rounds 2 [--cold]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from prism_secure.protocols.adapters.flower.loopback import LoopbackFederation

APP = Path(__file__).resolve().parent / "flower-secagg-app"


WARM = ("numpy", "prism_secure.protocols.adapters.flower")


def measure(n: int, d: int, rounds: int, workdir: Path, timeout: float, warm: bool = True) -> dict:
    out = workdir / "rounds.json"
    config = {"nodes": n, "entries": d, "num-server-rounds": rounds, "out-file": str(out)}
    nodes = [{"partition-id": i} for i in range(n)]
    with LoopbackFederation(workdir, nodes=nodes, warm=WARM if warm else None) as federation:
        outcome = federation.run(APP, config, timeout=timeout)
    if not outcome.completed:
        raise SystemExit(f"run {outcome.status}: {outcome.details}\n{outcome.log[-3000:]}")
    return json.loads(out.read_text())


def table(report: dict) -> list[str]:
    lines = [
        f"n = {report['nodes']}, d = {report['entries']}",
        "round  completed  wall s  exchanges s (advertise share masked consistency unmask)"
        "  server s  KB up/client  KB down/client",
    ]
    for r in report["rounds"]:
        phases = " ".join(f"{s:.1f}" for s in r["phase_seconds"].values())
        up = statistics.mean(r["bytes_up"].values()) / 1e3
        down = statistics.mean(r["bytes_down"].values()) / 1e3
        lines.append(
            f"{r['round']:5d}  {r['completed']!s:9s}  {r['wall_seconds']:6.1f}  {phases:50s}"
            f"  {r['server_seconds']:8.3f}  {up:12.1f}  {down:14.1f}"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--d", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--cold", action="store_true", help="Flower's own SuperExec")
    parser.add_argument("--json", default=None, help="write the ServerApp's report here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="prism-flower-bench-") as scratch:
        report = measure(
            args.n, args.d, args.rounds, Path(scratch), args.timeout, warm=not args.cold
        )
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    print("\n".join(table(report)))


if __name__ == "__main__":
    main()
