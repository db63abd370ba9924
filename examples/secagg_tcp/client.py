"""One client process: connects to the server and lets SecAggClient answer every frame.

The demo input is derived from the client id (so run.py can check the sum); a real system
passes its own vector.
"""

from __future__ import annotations

import argparse
import socket
import struct
import time

import numpy as np
from framing import recv_frame, send_frame

from prism_secure.protocols import SecAggClient, SecAggError, SessionParams


def demo_input(client_id: int, length: int) -> np.ndarray:
    return np.random.default_rng(client_id).integers(0, 2, length, dtype=np.uint8)


def connect_with_retry(port: int, wait_s: float = 20.0) -> socket.socket:
    """The server process may still be starting: retry refused connections for a while."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port))
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--id", type=int, required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--params", required=True, help="SessionParams as JSON")
    ap.add_argument("--round", type=int, default=0)
    ap.add_argument("--model-digest", default="00" * 32)
    ap.add_argument("--drop-after", type=int, default=None, help="vanish after N replies")
    args = ap.parse_args()
    params = SessionParams.model_validate_json(args.params)
    client = SecAggClient(
        args.id,
        demo_input(args.id, params.length),
        params,
        round_index=args.round,
        model_digest=bytes.fromhex(args.model_digest),
    )
    with connect_with_retry(args.port) as sock:
        sock.sendall(struct.pack(">I", args.id))
        send_frame(sock, client.start())
        sent = 1
        while client.state not in ("done", "aborted"):
            if args.drop_after is not None and sent >= args.drop_after:
                print(f"client {args.id}: dropping out in state {client.state}")
                return
            try:
                replies = client.receive(recv_frame(sock))
            except SecAggError as exc:
                if client.state != "aborted":
                    print(f"client {args.id}: ignored a bad frame: {exc}")
                    continue
                print(f"client {args.id}: {exc}")
                if exc.abort_message:  # tell the server, so it drops us now
                    send_frame(sock, exc.abort_message)
                return
            for reply in replies:
                send_frame(sock, reply)
                sent += 1
    print(f"client {args.id}: done")


if __name__ == "__main__":
    main()
