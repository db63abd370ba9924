"""Wire encoding: round trips, and every kind of bad bytes rejected with a typed error."""

from __future__ import annotations

import os

import pytest

from prism_secure.protocols.errors import MessageError
from prism_secure.protocols.secagg.messages import (
    Abort,
    AdvertiseKeys,
    ClientAbort,
    ConsistencyReply,
    ConsistencyRequest,
    MaskedInputReply,
    MaskedInputRequest,
    RosterEntry,
    ShareKeysReply,
    ShareKeysRequest,
    UnmaskReply,
    UnmaskRequest,
    decode,
    encode,
)

SID = os.urandom(32)
K = os.urandom(32)

SAMPLES = [
    AdvertiseKeys(sender=7, round=3, share_key=K, mask_key=os.urandom(32), seed_commitment=SID),
    ShareKeysRequest(
        round=3,
        session_id=SID,
        roster=[
            RosterEntry(client=i, share_key=os.urandom(32), mask_key=K, seed_commitment=SID)
            for i in (1, 300)
        ],
    ),
    ShareKeysReply(
        sender=1,
        round=3,
        session_id=SID,
        ciphertexts={2: bytes(168), 2**32 - 1: b"x" * 168},
        share_digests={1: bytes(32), 2: b"d" * 32, 2**32 - 1: bytes(32)},
    ),
    MaskedInputRequest(
        round=3, session_id=SID, ciphertexts={5: bytes(168)}, share_digests={5: bytes(32)}
    ),
    MaskedInputReply(sender=0, round=2**40, session_id=SID, vector=os.urandom(1000)),
    ConsistencyRequest(round=3, session_id=SID, survivors=[0, 1, 128, 70000]),
    ConsistencyReply(sender=1, round=3, session_id=SID, tags={0: bytes(16)}),
    UnmaskRequest(
        round=3,
        session_id=SID,
        survivors=[0, 1],
        dropped=[2],
        seed_for=[0, 1],
        key_for=[2],
        tags={1: bytes(16)},
    ),
    UnmaskReply(sender=1, round=3, session_id=SID, seed_shares={0: bytes(66)}, key_shares={}),
    Abort(round=3, reason="too few clients ✓"),
    ClientAbort(sender=4, round=3, reason="refused: survivor list contradicts ✓"),
]


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: type(m).__name__)
def test_round_trip(message) -> None:  # noqa: ANN001
    data = encode(message)
    assert decode(data, max_size=1 << 20) == message


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: type(m).__name__)
def test_every_truncation_rejected(message) -> None:  # noqa: ANN001
    data = encode(message)
    for cut in range(len(data)):
        with pytest.raises(MessageError):
            decode(data[:cut], max_size=1 << 20)


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: type(m).__name__)
def test_trailing_and_oversized_rejected(message) -> None:  # noqa: ANN001
    data = encode(message)
    with pytest.raises(MessageError, match="trailing"):
        decode(data + b"\x00", max_size=1 << 20)
    with pytest.raises(MessageError, match="oversized"):
        decode(data, max_size=len(data) - 1)


def test_header_checked() -> None:
    data = encode(SAMPLES[0])
    with pytest.raises(MessageError, match="version"):
        decode(b"\x01" + data[1:], max_size=1000)  # version 1 predates seed commitments
    with pytest.raises(MessageError, match="type"):
        decode(data[:1] + b"\x63" + data[2:], max_size=1000)
    with pytest.raises(MessageError):
        decode("not bytes", max_size=1000)  # type: ignore[arg-type]


def test_field_constraints_name_the_field() -> None:
    msg = AdvertiseKeys(sender=7, round=3, share_key=K, mask_key=K, seed_commitment=SID)
    data = encode(msg)  # header 2, sender 1, round 1, then share_key's length byte
    short = data[:4] + bytes([31]) + data[5:36] + data[37:]
    with pytest.raises(MessageError, match="share_key"):
        decode(short, max_size=1000)


def test_huge_counts_do_not_allocate() -> None:
    # a count of 2^60 entries in 10 bytes must be refused before any allocation
    body = bytes([2, 6, 3]) + bytes([32]) + SID + bytes([0x80] * 8 + [0x10])
    with pytest.raises(MessageError, match="count|truncated"):
        decode(body, max_size=1000)


def test_duplicate_dict_key_rejected() -> None:
    good = encode(
        ConsistencyReply(sender=1, round=3, session_id=SID, tags={0: bytes(16), 1: bytes(16)})
    )
    bad = good.replace(bytes([1]) + bytes([16]) + bytes(16), bytes([0]) + bytes([16]) + bytes(16))
    with pytest.raises(MessageError, match="duplicate"):
        decode(bad, max_size=1000)


def test_no_pickle_anywhere() -> None:
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[3] / "protocols"
    paths = sorted(root.rglob("*.py"))
    assert len(paths) > 20, root  # the whole package, client state snapshots included
    for path in paths:
        text = path.read_text()
        assert "import pickle" not in text and "pickle.load" not in text, path
