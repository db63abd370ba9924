"""Run the TCP example: one server and n client processes on loopback; check the sum.

python examples/secagg_tcp/run.py --clients 6 --threshold 4 --length 1000 --drop 2
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from prism_secure.protocols import SessionParams, count_bits

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=6)
    ap.add_argument("--threshold", type=int, default=4)
    ap.add_argument("--length", type=int, default=1000)
    ap.add_argument("--drop", type=int, default=1, help="clients that vanish mid-round")
    args = ap.parse_args()
    params = SessionParams(
        threshold=args.threshold,
        bits=count_bits(args.clients),
        length=args.length,
        clients=args.clients,
    ).model_dump_json()
    port = free_port()
    out = Path(tempfile.mkdtemp()) / "result.json"
    py = sys.executable
    server = subprocess.Popen(
        [
            py,
            str(HERE / "server.py"),
            "--port",
            str(port),
            "--clients",
            str(args.clients),
            "--params",
            params,
            "--out",
            str(out),
            "--timeout",
            "30",
        ]
    )
    clients = []
    for cid in range(args.clients):
        cmd = [
            py,
            str(HERE / "client.py"),
            "--id",
            str(cid),
            "--port",
            str(port),
            "--params",
            params,
        ]
        if cid < args.drop:
            cmd += ["--drop-after", "2"]  # keys and shares sent, masked input never
        clients.append(subprocess.Popen(cmd))
    for p in clients:
        p.wait(timeout=120)
    server.wait(timeout=120)
    result = json.loads(out.read_text())
    if "aborted" in result:
        print("round aborted:", result["aborted"])
        return 1
    sys.path.insert(0, str(HERE))
    from client import demo_input

    expected = sum(demo_input(c, args.length).astype(np.int64) for c in result["survivors"])
    ok = np.array_equal(np.asarray(result["total"]), expected)
    print(f"survivors {result['survivors']}; sum matches the plaintext sum: {ok}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
