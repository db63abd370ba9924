"""The server process: accepts n clients on loopback and drives SecAggServer with their frames.

Each phase: send every outgoing frame, then wait (up to --timeout seconds per client) for one
reply from each client still in; a closed or silent connection is a dropout.
"""

from __future__ import annotations

import argparse
import json
import socket
import struct

from framing import recv_exact, recv_frame, send_frame

from prism_secure.protocols import AbortedError, SecAggError, SecAggServer, SessionParams


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--clients", type=int, required=True)
    ap.add_argument("--params", required=True)
    ap.add_argument("--round", type=int, default=0)
    ap.add_argument("--model-digest", default="00" * 32)
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--out", required=True, help="where to write the result as JSON")
    args = ap.parse_args()
    params = SessionParams.model_validate_json(args.params)
    server = SecAggServer(
        params,
        round_index=args.round,
        model_digest=bytes.fromhex(args.model_digest),
        clients=list(range(args.clients)),
    )
    socks: dict[int, socket.socket] = {}
    with socket.create_server(("127.0.0.1", args.port)) as listener:
        listener.settimeout(args.timeout)
        while len(socks) < args.clients:
            conn, _ = listener.accept()
            conn.settimeout(args.timeout)
            (cid,) = struct.unpack(">I", recv_exact(conn, 4))
            socks[cid] = conn

    def collect(ids: set[int]) -> None:
        for cid in sorted(ids):
            try:
                server.receive(cid, recv_frame(socks[cid]))
            except (OSError, ConnectionError):
                socks.pop(cid).close()  # dropped out
            except SecAggError as exc:
                print(f"server: ignored a bad message from {cid}: {exc}")
            if cid in server.client_aborts:  # it refused our last message and left
                print(f"server: client {cid} aborted: {server.client_aborts[cid]}")
                socks.pop(cid).close()

    collect(set(socks))
    while server.phase not in ("done", "aborted"):
        outgoing = server.advance()
        for cid, data in outgoing:
            if cid in socks:
                try:
                    send_frame(socks[cid], data)
                except OSError:
                    socks.pop(cid).close()
        if server.phase in ("done", "aborted"):
            break
        collect({cid for cid, _ in outgoing} & set(socks))
    for s in socks.values():
        s.close()
    try:
        res = server.result()
        out = {"total": res.total.tolist(), "survivors": res.survivors}
    except AbortedError as exc:
        out = {"aborted": str(exc)}
    with open(args.out, "w") as fh:
        json.dump(out, fh)


if __name__ == "__main__":
    main()
