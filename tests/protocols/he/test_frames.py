"""HE frames: a round trip, and every defect refused with a MessageError naming the field."""

from __future__ import annotations

import hashlib
import os

import pytest

pytest.importorskip("tenseal")

from prism_secure.protocols.errors import MessageError  # noqa: E402
from prism_secure.protocols.he.frames import (  # noqa: E402
    HEADER,
    KIND_RESULT,
    KIND_UPLOAD,
    MAGIC,
    VERSION,
    decode_frame,
    encode_frame,
)

SESSION = os.urandom(32)


def reframed(body: bytes) -> bytes:
    """``body`` with a valid checksum: only the header field under test is wrong."""
    return body + hashlib.sha256(body).digest()


def test_round_trip() -> None:
    data = encode_frame(KIND_UPLOAD, SESSION, 10, 1, [b"abc", b"", b"x" * 300])
    frame = decode_frame(data, kind=KIND_UPLOAD, session=SESSION)
    assert (frame.kind, frame.session, frame.length, frame.summands) == (
        KIND_UPLOAD,
        SESSION,
        10,
        1,
    )
    assert frame.parts == [b"abc", b"", b"x" * 300]


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ((b"XYZ", VERSION, KIND_UPLOAD), "magic"),
        ((MAGIC, VERSION + 1, KIND_UPLOAD), "version"),
        ((MAGIC, VERSION, KIND_RESULT), "kind"),
    ],
)
def test_wrong_header_field_is_named(header: tuple, field: str) -> None:
    body = HEADER.pack(*header, SESSION, 10, 1, 0)
    with pytest.raises(MessageError) as info:
        decode_frame(reframed(body), kind=KIND_UPLOAD)
    assert info.value.field == field


def test_other_session_corruption_truncation_and_trailing_bytes_refused() -> None:
    data = encode_frame(KIND_UPLOAD, SESSION, 10, 1, [b"abc"])
    with pytest.raises(MessageError, match="session"):
        decode_frame(data, kind=KIND_UPLOAD, session=os.urandom(32))
    with pytest.raises(MessageError, match="checksum"):
        decode_frame(data[:-1] + bytes([data[-1] ^ 1]), kind=KIND_UPLOAD)
    with pytest.raises(MessageError, match="truncated"):
        decode_frame(data[:10], kind=KIND_UPLOAD)
    body = HEADER.pack(MAGIC, VERSION, KIND_UPLOAD, SESSION, 10, 1, 1) + b"\x00\x00\x00\x01ab"
    with pytest.raises(MessageError, match="trailing"):
        decode_frame(reframed(body), kind=KIND_UPLOAD)
    long_claim = HEADER.pack(MAGIC, VERSION, KIND_UPLOAD, SESSION, 10, 1, 1) + b"\xff\xff\xff\xff"
    with pytest.raises(MessageError, match="runs past"):
        decode_frame(reframed(long_claim), kind=KIND_UPLOAD)
    with pytest.raises(MessageError):
        decode_frame("not bytes", kind=KIND_UPLOAD)  # type: ignore[arg-type]
