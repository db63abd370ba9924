"""The HE wire format: TenSEAL's own serialization inside a small checked frame.

A frame is magic, version, kind, session id, vector length, summands, the number of parts, then
each part with its length, then SHA-256 over all of it. Never pickle. The checksum catches
corruption (TenSEAL accepts many flipped bits and decrypts garbage) and mix-ups between rounds,
keys or models through the session id; it is not a MAC, so a forger is not stopped: use an
authenticated transport.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from prism_secure.protocols.errors import MessageError

MAGIC = b"PHE"
VERSION = 1
KIND_KEYS, KIND_UPLOAD, KIND_AGGREGATE, KIND_RESULT = 1, 2, 3, 4
HEADER = struct.Struct(">3sBB32sQII")  # magic, version, kind, session, length, summands, parts
_PART = struct.Struct(">I")
_DIGEST = 32
MAX_PART = 1 << 26  # 64 MiB: far above one ciphertext, far below a memory-exhausting claim


def encode_frame(
    kind: int, session: bytes, length: int, summands: int, parts: list[bytes]
) -> bytes:
    """Header, length-prefixed parts, then SHA-256 over everything before it."""
    out = bytearray(HEADER.pack(MAGIC, VERSION, kind, session, length, summands, len(parts)))
    for part in parts:
        out += _PART.pack(len(part))
        out += part
    out += hashlib.sha256(out).digest()
    return bytes(out)


@dataclass(frozen=True)
class Frame:
    kind: int
    session: bytes
    length: int
    summands: int
    parts: list[bytes]


def decode_frame(data: bytes, *, kind: int, session: bytes | None = None) -> Frame:
    """Parse and check a frame; any defect is a :class:`MessageError` naming the field."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise MessageError("frame", f"expected bytes, got {type(data).__name__}")
    buf = memoryview(bytes(data))
    if len(buf) < HEADER.size + _DIGEST:
        raise MessageError("frame", f"truncated: {len(buf)} bytes")
    body, check = buf[:-_DIGEST], buf[-_DIGEST:]
    if hashlib.sha256(body).digest() != bytes(check):
        raise MessageError("checksum", "SHA-256 mismatch: corrupted or truncated bytes")
    magic, version, got_kind, sess, length, summands, nparts = HEADER.unpack_from(body)
    if magic != MAGIC:
        raise MessageError("magic", "not a prism-secure HE frame")
    if version != VERSION:
        raise MessageError("version", f"unsupported version {version}")
    if got_kind != kind:
        raise MessageError("kind", f"expected kind {kind}, got {got_kind}")
    if session is not None and sess != session:
        raise MessageError("session", "frame belongs to another round, model or key set")
    pos, parts = HEADER.size, []
    for i in range(nparts):
        if pos + _PART.size > len(body):
            raise MessageError(f"parts[{i}]", "truncated length prefix")
        (size,) = _PART.unpack_from(body, pos)
        pos += _PART.size
        if size > MAX_PART or pos + size > len(body):
            raise MessageError(f"parts[{i}]", f"length {size} runs past the frame")
        parts.append(bytes(body[pos : pos + size]))
        pos += size
    if pos != len(body):
        raise MessageError("frame", f"{len(body) - pos} trailing bytes")
    return Frame(got_kind, bytes(sess), length, summands, parts)
