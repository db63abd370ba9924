"""The HE server refuses every bad upload and leaves its aggregate as it was."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tenseal")

from prism_secure.protocols.errors import MessageError, ReplayError  # noqa: E402
from prism_secure.protocols.he.frames import KIND_UPLOAD, decode_frame, encode_frame  # noqa: E402


def test_tampered_and_truncated_uploads_rejected(session, fresh_server) -> None:
    params, keys, uploads = session
    good = uploads[0]
    rng = np.random.default_rng(0)
    bad = [good[:-1], good[: len(good) // 2], good[:10], b"", good + b"x", b"\x00" * len(good)]
    for _ in range(20):  # single bit flips anywhere: TenSEAL alone accepts most of them
        i = int(rng.integers(len(good)))
        flipped = bytearray(good)
        flipped[i] ^= 1 << int(rng.integers(8))
        bad.append(bytes(flipped))
    server = fresh_server(params, keys)
    for data in bad:
        with pytest.raises(MessageError):
            server.receive(0, data)
    assert server.survivors == []  # state unchanged
    server.receive(0, good)
    with pytest.raises(ReplayError):
        server.receive(0, good)
    with pytest.raises(MessageError, match="cohort"):
        server.receive(9, uploads[1])


def test_malformed_ciphertext_with_valid_frame_rejected(session, fresh_server) -> None:
    """A sender who rebuilds the checksum still cannot slip in bytes TenSEAL does not parse."""
    params, keys, uploads = session
    server = fresh_server(params, keys)
    frame = decode_frame(uploads[0], kind=KIND_UPLOAD)
    for parts in (
        [frame.parts[0][:-100], frame.parts[1]],  # truncated ciphertext
        [b"", frame.parts[1]],  # TenSEAL loads b"" as an empty vector: caught by the slot count
        [b"\x00" * 50, frame.parts[1]],
        [frame.parts[0]],  # one chunk missing
        [frame.parts[1], frame.parts[0]],  # swapped chunks: wrong slot counts
    ):
        data = encode_frame(KIND_UPLOAD, frame.session, frame.length, 1, parts)
        with pytest.raises(MessageError):
            server.receive(0, data)
    # another round's (or model's) frame is refused by the session id
    other = fresh_server(params, keys, round_index=3)
    with pytest.raises(MessageError, match="session"):
        other.receive(0, uploads[0])
    assert server.survivors == [] and other.survivors == []
