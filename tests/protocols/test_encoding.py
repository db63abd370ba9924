"""One message, one encoding: the decoder refuses every non-canonical form.

Non-minimal varints, varints over 64 bits, bools other than 0/1 and dict keys out of order all
decode to a message that also has another encoding; refusing them makes ``encode(decode(b)) ==
b`` for every accepted ``b``, so a hash or a MAC of the bytes is a hash of the message.
"""

from __future__ import annotations

import typing
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from prism_secure.protocols.encoding import _Cursor, decode_fields, encode_fields, read_varint
from prism_secure.protocols.errors import MessageError
from prism_secure.protocols.secagg.messages import MESSAGE_TYPES, ConsistencyReply, decode, encode

LIMIT = 1 << 20


def strategy(tp: Any, meta: list[Any] | tuple[Any, ...] = ()) -> st.SearchStrategy[Any]:
    """Values of a message field type, within its constraints (small sizes, to stay fast)."""
    if typing.get_origin(tp) is typing.Annotated:
        base, *extra = typing.get_args(tp)
        return strategy(base, [m for info in extra for m in getattr(info, "metadata", [info])])
    bounds = {type(m).__name__: m for m in meta}
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        fields = {n: strategy(f.annotation, f.metadata) for n, f in tp.model_fields.items()}
        return st.builds(tp, **fields)
    if tp is int:
        lo = bounds["Ge"].ge if "Ge" in bounds else 0
        hi = bounds["Lt"].lt - 1 if "Lt" in bounds else 2**64 - 1
        return st.one_of(st.integers(lo, min(hi, lo + 300)), st.integers(lo, hi))
    if tp is bytes:
        lo = bounds["MinLen"].min_length if "MinLen" in bounds else 0
        hi = bounds["MaxLen"].max_length if "MaxLen" in bounds else 80
        return st.binary(min_size=lo, max_size=hi)
    if tp is str:
        return st.text(max_size=40)
    if typing.get_origin(tp) is list:
        return st.lists(strategy(typing.get_args(tp)[0]), max_size=4)
    if typing.get_origin(tp) is dict:
        k, v = typing.get_args(tp)
        return st.dictionaries(strategy(k), strategy(v), max_size=4)
    raise TypeError(tp)


messages = st.sampled_from(sorted(MESSAGE_TYPES)).flatmap(lambda t: strategy(MESSAGE_TYPES[t]))


@settings(max_examples=300)
@given(messages)
def test_every_message_round_trips(message: Any) -> None:
    assert decode(encode(message), max_size=LIMIT) == message


@settings(max_examples=400)
@given(messages, st.data())
def test_every_accepted_byte_string_is_the_canonical_encoding(message: Any, data: Any) -> None:
    """Mutate a valid encoding; whatever still decodes must re-encode to the very same bytes."""
    raw = bytearray(encode(message))
    for _ in range(data.draw(st.integers(1, 3))):
        op = data.draw(st.sampled_from(["flip", "insert", "delete", "set"]))
        at = data.draw(st.integers(0, len(raw)))
        if op == "insert":
            raw.insert(at, data.draw(st.sampled_from([0x00, 0x80, 0x81, 0xFF, 0x01])))
        elif raw and at < len(raw):
            if op == "flip":
                raw[at] ^= 1 << data.draw(st.integers(0, 7))
            elif op == "delete":
                del raw[at]
            else:
                raw[at] = data.draw(st.integers(0, 255))
    try:
        decoded = decode(bytes(raw), max_size=LIMIT)
    except MessageError:
        return
    assert encode(decoded) == bytes(raw)


def test_non_minimal_varint_is_refused() -> None:
    """Sender 7 written as 0x87 0x00 (two bytes for a one-byte value) is another encoding."""
    good = encode(ConsistencyReply(sender=7, round=3, session_id=bytes(32), tags={}))
    assert good[2] == 7
    with pytest.raises(MessageError, match="non-minimal"):
        decode(good[:2] + b"\x87\x00" + good[3:], max_size=LIMIT)


@pytest.mark.parametrize(
    "raw", [b"\xff" * 9 + b"\x02", b"\x80" * 9 + b"\x7f"], ids=["2^64+...", "2^63*127"]
)
def test_varint_over_64_bits_is_refused(raw: bytes) -> None:
    with pytest.raises(MessageError, match="64 bits"):
        read_varint(_Cursor(raw), "value")


def test_dict_keys_out_of_order_are_refused() -> None:
    """{1: a, 0: b} and {0: b, 1: a} are one message: only increasing keys are accepted."""
    msg = ConsistencyReply(
        sender=1, round=3, session_id=bytes(32), tags={0: b"a" * 16, 1: bytes(16)}
    )
    data = encode(msg)
    entry0, entry1 = bytes([0, 16]) + b"a" * 16, bytes([1, 16]) + bytes(16)
    assert entry0 + entry1 in data
    swapped = data.replace(entry0 + entry1, entry1 + entry0)
    with pytest.raises(MessageError, match="order"):
        decode(swapped, max_size=LIMIT)


class Flag(BaseModel):
    on: bool


def test_bool_other_than_zero_or_one_is_refused() -> None:
    assert encode_fields(Flag(on=True)) == b"\x01"
    with pytest.raises(MessageError, match="bool"):
        decode_fields(Flag, b"\x02")


def test_a_masked_vector_is_read_in_place_not_copied() -> None:
    """A megabyte payload decodes as a read-only view of the received bytes."""
    from prism_secure.protocols.secagg.messages import MaskedInputReply

    sent = MaskedInputReply(
        sender=3, round=1, session_id=bytes(32), vector=bytes(range(256)) * 4096
    )
    data = encode(sent)
    got = decode(data, max_size=2 * len(data))
    assert isinstance(got.vector, memoryview) and got.vector.readonly and got.vector.obj is data
    assert got == sent and encode(got) == data


def test_a_writable_buffer_is_refused_as_a_borrowed_payload() -> None:
    """A view of memory someone else can still change is not accepted as a message field."""
    from prism_secure.protocols.secagg.messages import MaskedInputReply

    with pytest.raises(ValueError, match="expected bytes"):
        MaskedInputReply(sender=3, round=1, session_id=bytes(32), vector=memoryview(bytearray(8)))
