"""Benchmark of the homomorphic secure sum (TenSEAL BFV): client encrypt seconds, bytes per client,
server seconds, decryption seconds, over real ``run_he_sum`` rounds (no dropouts).

d = 876,688 is the default model's mask size. Usage::

    nice -n 10 python bench/he_sum.py --n 10 --d 876688 --reps 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics

import numpy as np

from prism_secure.protocols.he import HEParams, generate_keys, run_he_sum


def one(n: int, d: int, seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    inputs = {c: rng.integers(0, 2, d, dtype=np.uint8) for c in range(n)}
    keys = generate_keys(HEParams(length=d, clients=n), list(range(n)))
    res = run_he_sum(inputs, round_index=seed, model_digest=os.urandom(32), keys=keys)
    he = res.he
    assert he is not None
    expected = sum(v.astype(np.int64) for v in inputs.values())
    ordinary = [c for c in range(n) if c not in (he.key_generator, he.decryptor)]
    return {
        "exact": float(np.array_equal(res.total, expected)),
        "keygen_s": keys.seconds,
        "encrypt_s": res.client_protect_seconds,
        "client_s_max": res.client_seconds_max,
        "server_s": res.server_seconds,
        "decrypt_s": he.decrypt_seconds,
        "upload_B": statistics.median(he.upload_bytes.values()),
        "bundle_B": statistics.median(he.key_bundle_bytes[c] for c in ordinary),
        "up_B_ordinary": statistics.median(res.bytes_up_per_client[c] for c in ordinary),
        "down_B_ordinary": statistics.median(res.bytes_down_per_client[c] for c in ordinary),
        "aggregate_B": he.aggregate_bytes,
        "ciphertexts": he.ciphertexts_per_client,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--d", type=int, default=876_688)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--json", default=None, help="append one JSON line per configuration")
    args = ap.parse_args()
    runs = [one(args.n, args.d, seed) for seed in range(args.reps)]
    row = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    row["exact"] = all(r["exact"] for r in runs)
    row.update(n=args.n, d=args.d, reps=args.reps)
    print(
        "| n | d | ciphertexts/client | keygen s | client encrypt s | server s | decrypt s "
        "| upload B/client | B/entry | key bundle B | exact |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {args.n} | {args.d} | {row['ciphertexts']:.0f} | {row['keygen_s']:.3f} "
        f"| {row['encrypt_s']:.2f} | {row['server_s']:.2f} | {row['decrypt_s']:.2f} "
        f"| {row['upload_B']:.0f} | {row['upload_B'] / args.d:.2f} | {row['bundle_B']:.0f} "
        f"| {row['exact']} |"
    )
    print(json.dumps(row))
    if args.json:
        with open(args.json, "a") as f:
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
