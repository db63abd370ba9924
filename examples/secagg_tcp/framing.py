"""Length-prefixed frames over a socket: the only transport code the example needs."""

from __future__ import annotations

import socket
import struct

MAX_FRAME = 64 << 20


def send_frame(sock: socket.socket, data: bytes) -> None:
    sock.sendall(struct.pack(">I", len(data)) + data)


def recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("peer closed the connection")
        buf += chunk
    return bytes(buf)


def recv_frame(sock: socket.socket) -> bytes:
    (size,) = struct.unpack(">I", recv_exact(sock, 4))
    if size > MAX_FRAME:
        raise ConnectionError(f"frame of {size} bytes refused")
    return recv_exact(sock, size)
