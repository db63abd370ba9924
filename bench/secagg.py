"""Benchmark of prism_secure.protocols: server and client seconds, bytes per client, and the
keystream lower bound, over a grid of cohort sizes, vector lengths, dropout rates and graphs.

Every run goes through ``run_secure_sum`` (real state machines, real crypto, bytes between them).
Dropouts happen at the 'masked' phase, the costly case for the server: it must rebuild the
pairwise masks of every dropped client. A repetition whose round aborts because some
neighbourhood kept fewer than t live members counts as stalled; the last column sets the count
beside the union bound on that chance (``stall_probability``). Thresholds default to the least
the split-view rule allows (t = n//2 + 1 on the full graph, k//2 + 1 on the sparse one). Usage::

    nice -n 10 python bench/secagg.py --n 10 100 500 --d 100000 1000000 --dropout 0 0.1 0.3 \
        --graph full sparse --reps 3 --json bench/secagg_results.jsonl
"""

from __future__ import annotations

import argparse
import json
import math
import os
import secrets
import statistics
import time

import numpy as np

from prism_secure.protocols.errors import AbortedError
from prism_secure.protocols.secagg.crypto.prg import encryptor
from prism_secure.protocols.secagg.driver import run_secure_sum
from prism_secure.protocols.secagg.params import count_bits, stall_probability, storage_dtype


def keystream_seconds(streams: int, d: int, bits: int, reps: int = 5) -> float:
    """Time to generate ``streams`` keystreams of d entries: no masking scheme can do less."""
    nbytes = d * storage_dtype(bits).itemsize
    zeros, out = bytes(nbytes), bytearray(nbytes + 15)  # update_into wants 15 spare bytes
    seeds = [os.urandom(32) for _ in range(streams)]
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        for s in seeds:
            encryptor("aes-ctr", s).update_into(zeros, out)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def one(n: int, d: int, dropout: float, graph: str, k: int, t: int, reps: int) -> dict:
    gen = np.random.default_rng(secrets.randbits(64))  # benchmark inputs only
    inputs = {c: gen.integers(0, 2, d, dtype=np.uint8) for c in range(n)}
    dropped = gen.choice(n, size=int(round(dropout * n)), replace=False)
    dropouts = {int(c): "masked" for c in dropped}
    rows = []
    stalls = 0
    for _ in range(reps):
        start = time.perf_counter()
        try:
            res = run_secure_sum(
                inputs,
                threshold=t,
                graph=graph,
                neighbours=k if graph == "sparse" else None,
                round_index=1,
                model_digest=os.urandom(32),
                dropouts=dropouts,
            )
        except AbortedError:  # a neighbourhood fell below t: the round released nothing
            stalls += 1
            continue
        wall = time.perf_counter() - start
        exact = bool(
            np.array_equal(res.total, sum(inputs[c].astype(np.int64) for c in res.survivors))
        )
        up = [res.bytes_up_per_client[c] for c in res.survivors]
        down = [res.bytes_down_per_client[c] for c in res.survivors]
        rows.append(
            (
                res.server_seconds,
                res.client_seconds,
                res.client_protect_seconds,
                statistics.median(up),
                statistics.median(down),
                wall,
                exact,
            )
        )
    bits = count_bits(n)
    peers = (n - 1) if graph == "full" else min(k, n - 1)
    lower = keystream_seconds(peers + 1, d, bits)
    nan = float("nan")
    med = [statistics.median(col) for col in zip(*rows, strict=True)] if rows else [nan] * 7
    return {
        "n": n,
        "d": d,
        "dropout": dropout,
        "graph": graph,
        "k": peers,
        "t": t,
        "bits": bits,
        "server_s": med[0],
        "client_s": med[1],
        "client_mask_s": med[2],
        "up_B": int(med[3]) if rows else 0,
        "down_B": int(med[4]) if rows else 0,
        "wall_s": med[5],
        "exact": all(r[6] for r in rows) if rows else None,
        "stalled": stalls,
        "stall_bound": stall_probability(n, peers + 1, t, dropout),
        "keystream_s": lower,
        "mask_over_keystream": med[2] / lower,
        "upload_bits_per_param": med[3] * 8 / d,
        "bound_bits": bits,
        "reps": reps,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[10, 100, 500])
    ap.add_argument("--d", type=float, nargs="+", default=[1e5, 1e6])
    ap.add_argument("--dropout", type=float, nargs="+", default=[0.0, 0.1, 0.3])
    ap.add_argument("--graph", nargs="+", default=["full", "sparse"])
    ap.add_argument("--k", type=int, default=40, help="SecAgg+ neighbours (Flower's 41 shares)")
    ap.add_argument(
        "--t-full", type=float, default=None, help="full graph: t = ceil(frac * n); default n//2+1"
    )
    ap.add_argument("--t-sparse", type=int, default=None, help="default k//2+1 (2t > k)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--json", default=None, help="append one JSON line per cell")
    args = ap.parse_args()
    print(
        "| n | d | dropout | graph | k / t | b | server s | client s total / masking "
        "| keystream s | masking / keystream | up B/client | up bits/param | down B | exact "
        "| stalled / reps (bound) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n in args.n:
        for d in (int(x) for x in args.d):
            for graph in args.graph:
                for dropout in args.dropout:
                    k = args.k if graph == "sparse" else n - 1
                    if graph == "full":
                        frac = args.t_full
                        t = n // 2 + 1 if frac is None else max(2, math.ceil(frac * n))
                    else:
                        t = k // 2 + 1 if args.t_sparse is None else min(args.t_sparse, n)
                    if graph == "sparse" and k >= n - 1:
                        continue  # same as the full graph
                    row = one(n, d, dropout, graph, k, t, args.reps)
                    print(
                        f"| {n} | {d:.0e} | {dropout:.0%} | {graph} | {row['k']} / {t} | "
                        f"{row['bits']} | {row['server_s']:.3f} | {row['client_s']:.4f} / "
                        f"{row['client_mask_s']:.4f} | {row['keystream_s']:.4f} | "
                        f"{row['mask_over_keystream']:.1f}x | {row['up_B']} | "
                        f"{row['upload_bits_per_param']:.3f} | {row['down_B']} | "
                        f"{row['exact']} | {row['stalled']} / {args.reps} "
                        f"({row['stall_bound']:.2g}) |",
                        flush=True,
                    )
                    if args.json:
                        with open(args.json, "a") as fh:
                            fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
