"""Side by side: Flower's own SecAgg+ and prism-secure's secure sum on the same numpy Flower app.

The app: every client's training returns a weighted update, a float32 kernel and bias of d
entries in all, uniform in [-1, 1] (no clipping on either side), with num_examples in
[100, 1000]. Both sides aggregate the weighted mean; the error column is the largest distance
from the plain weighted mean of the clients whose masked input reached the server.

- Flower: the real ``SecAggPlusWorkflow`` (server) and ``secaggplus_mod`` around a legacy
  ``NumPyClient`` (client), all in one process. An in-memory ``Grid`` hands every message,
  deflated and re-inflated by Flower's own object codec (what its HTTP grid sends), to the target
  node's ``ClientApp``; bytes per client are those deflated objects. Server seconds are the
  workflow's wall time less the time in client calls and in the codec.
- Ours: the same updates through ``quantise`` -> ``run_secure_sum`` -> ``dequantise_sum``, on the
  finest grid whose sum fits 32 bits (``finest_levels``); bytes are the protocol's own bytes,
  without Flower's message framing (the ClientApp mod and server workflow will carry them over
  Flower messages). Client seconds add quantising, server seconds de-quantising.

Both use the full graph and the same threshold t = floor(n/2) + 1 (the smallest secure one).
A dropped client stops answering at ``--stage`` and after; the in-memory grid does not wait out
a timeout. Usage::

    nice python bench/flower_secagg.py run --n 10 50 --d 100000 1000000 --dropout 0 0.1 0.3 \
        --stage setup share masked unmask --json bench/flower_secagg.jsonl
    python bench/flower_secagg.py table bench/flower_secagg.jsonl
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from collections import defaultdict

import numpy as np
from flower_inprocess import STAGES, flower_round

from prism_secure.protocols import AbortedError, run_secure_sum
from prism_secure.protocols.adapters.flower import (
    ArrayLayout,
    QuantiseConfig,
    dequantise_sum,
    finest_levels,
    quantise,
)

OUR_PHASE = {"setup": "advertise", "share": "share", "masked": "masked", "unmask": "unmask"}
MAX_WEIGHT = 1000
LEVELS_BITS = 22  # Flower's default quantization_range: 2^22 levels (its modulus is 2^32)


def make_app(n: int, d: int, seed: int) -> tuple[list[dict[str, np.ndarray]], list[int]]:
    """Each client's update (kernel + bias, d entries) and its num_examples."""
    gen = np.random.default_rng(seed)
    rows = d // 100 - 1
    updates = [
        {
            "kernel": gen.uniform(-1, 1, (rows, 100)).astype(np.float32),
            "bias": gen.uniform(-1, 1, 100).astype(np.float32),
        }
        for _ in range(n)
    ]
    return updates, [int(w) for w in gen.integers(100, MAX_WEIGHT + 1, n)]


def plain_mean(updates: list[dict], weights: list[int], keep: list[int]) -> list[np.ndarray]:
    total = sum(weights[i] for i in keep)
    return [
        sum(weights[i] * updates[i][k].astype(np.float64) for i in keep) / total
        for k in ("kernel", "bias")
    ]


def our_round(updates: list[dict], weights: list[int], t: int, drops: dict[int, str]) -> dict:
    n = len(updates)
    layout = ArrayLayout.of(updates[0])
    cfg = finest_levels(QuantiseConfig(clip=1.0, max_weight=MAX_WEIGHT), layout, n, bits=32)
    encode_s, vectors = [], {}
    for i, (u, w) in enumerate(zip(updates, weights, strict=True)):
        start = time.perf_counter()
        vectors[i] = quantise(u, layout, cfg, clients=n, client=i, num_examples=w)
        encode_s.append(time.perf_counter() - start)
    plan = vectors[0].plan
    try:
        res = run_secure_sum(
            {i: q.vector for i, q in vectors.items()},
            bits=plan.bits,
            threshold=t,
            round_index=1,
            model_digest=layout.digest(),
            dropouts={i: OUR_PHASE[s] for i, s in drops.items()},
        )
    except AbortedError:
        return {"completed": False, "bits": plan.bits, "levels_bits": cfg.levels_bits}
    start = time.perf_counter()
    agg = dequantise_sum(res.total, layout, cfg, clients=n, survivors=len(res.survivors))
    mean = agg.mean()
    decode = time.perf_counter() - start
    keep = res.survivors
    row = {
        "completed": True,
        "bits": plan.bits,
        "levels_bits": cfg.levels_bits,
        "server_s": res.server_seconds + decode,
        "client_s": res.client_seconds + statistics.median(encode_s),
        "up_bytes": statistics.median(res.bytes_up_per_client[i] for i in keep),
        "down_bytes": statistics.median(res.bytes_down_per_client[i] for i in keep),
        "bound": max(agg.mean_error_bound(k) for k in mean),
    }
    return row | _error([mean["kernel"], mean["bias"]], updates, weights, keep)


def flower_side(updates: list[dict], weights: list[int], t: int, drops: dict[int, str]) -> dict:
    row = flower_round(
        updates, weights, t, drops, clip=1.0, levels_bits=LEVELS_BITS, max_weight=MAX_WEIGHT
    )
    aggregate, keep = row.pop("aggregate"), row.pop("included")
    return row | (_error(aggregate, updates, weights, keep) if row["completed"] else {})


def _error(got: list[np.ndarray], updates: list[dict], weights: list[int], keep: list[int]) -> dict:
    ref = plain_mean(updates, weights, keep)
    err = max(float(np.abs(g.astype(np.float64) - r).max()) for g, r in zip(got, ref, strict=True))
    return {"max_error": err, "survivors": len(keep)}


def cmd_run(args: argparse.Namespace) -> None:
    logging.getLogger("flwr").setLevel(logging.WARNING)
    out = open(args.json, "a") if args.json else None  # noqa: SIM115
    for n in args.n:
        for d in args.d:
            for dropout in args.dropout:
                for stage in args.stage if dropout else ["none"]:
                    for rep in range(args.reps):
                        seed = args.seed + rep
                        updates, weights = make_app(n, d, seed)
                        gen = np.random.default_rng(seed)
                        dropped = gen.choice(n, size=round(dropout * n), replace=False)
                        drops = {int(i): stage for i in dropped}
                        t = n // 2 + 1
                        for side in args.side:
                            run = flower_side if side == "flower" else our_round
                            start = time.perf_counter()
                            row = run(updates, weights, t, drops)
                            row |= {
                                "side": side,
                                "n": n,
                                "d": d,
                                "t": t,
                                "dropout": dropout,
                                "stage": stage,
                                "dropped": len(drops),
                                "seed": seed,
                                "wall_s": time.perf_counter() - start,
                            }
                            print(json.dumps(row), flush=True)
                            if out:
                                out.write(json.dumps(row) + "\n")
                                out.flush()


def cmd_table(path: str) -> None:
    with open(path) as lines:
        rows = [json.loads(line) for line in lines if line.strip()]
    cells: dict[tuple, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        cells[(r["n"], r["d"], r["dropout"], r["stage"])][r["side"]].append(r)
    print(
        "| n | d | dropout @stage | done F / ours | server s F / ours (x) | client s F / ours (x)"
        " | up B/client F / ours | max error F / ours (bound) | reps |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for key in sorted(cells):
        f, o = cells[key]["flower"], cells[key]["ours"]
        print(
            f"| {key[0]} | {key[1]:.0e} | {_drop(key)} | {_done(f)} / {_done(o)} | "
            f"{_pair(f, o, 'server_s')} | {_pair(f, o, 'client_s')} | "
            f"{_med(f, 'up_bytes', '.0f')} / {_med(o, 'up_bytes', '.0f')} | "
            f"{_med(f, 'max_error', '.1e')} / {_med(o, 'max_error', '.1e')} "
            f"({_med(o, 'bound', '.1e')}) | {max(len(f), len(o))} |"
        )


def _drop(key: tuple) -> str:
    return "0%" if not key[2] else f"{key[2]:.0%} @{key[3]}"


def _done(rows: list[dict]) -> str:
    return f"{sum(r['completed'] for r in rows)}/{len(rows)}" if rows else "-"


def _med(rows: list[dict], key: str, fmt: str) -> str:
    vals = [r[key] for r in rows if r.get(key) is not None]
    return format(statistics.median(vals), fmt) if vals else "-"


def _pair(f: list[dict], o: list[dict], key: str) -> str:
    """Median over completed rounds only: a halted round's seconds mean nothing."""
    f, o = [r for r in f if r["completed"]], [r for r in o if r["completed"]]
    a, b = _med(f, key, ".3g"), _med(o, key, ".3g")
    ratio = f" ({float(a) / float(b):.0f}x)" if "-" not in (a, b) and float(b) > 0 else ""
    return f"{a} / {b}{ratio}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run")
    run.add_argument("--n", type=int, nargs="+", default=[10])
    run.add_argument("--d", type=int, nargs="+", default=[100_000])
    run.add_argument("--dropout", type=float, nargs="+", default=[0.0])
    run.add_argument("--stage", nargs="+", choices=STAGES, default=["masked"])
    run.add_argument("--side", nargs="+", choices=["flower", "ours"], default=["flower", "ours"])
    run.add_argument("--reps", type=int, default=1)
    run.add_argument("--seed", type=int, default=1)
    run.add_argument("--json", default=None, help="append one JSON row per round")
    table = sub.add_parser("table")
    table.add_argument("path")
    args = parser.parse_args()
    if args.cmd == "table":
        cmd_table(args.path)
    else:
        print(f"# python {sys.version.split()[0]}, numpy {np.__version__}", flush=True)
        cmd_run(args)


if __name__ == "__main__":
    main()
