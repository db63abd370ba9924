"""Compact binary codec for pydantic models: no pickle, no field names on the wire.

It writes the SecAgg wire messages (:mod:`prism_secure.protocols.secagg.messages`) and a
client's saved state (:mod:`prism_secure.protocols.secagg.client.snapshot`).

A model's fields are written in declaration order. Integers are unsigned LEB128 varints, bytes
and strings carry a varint length, lists a varint count, dicts a count then key/value pairs, and a
nested model its own fields. Decoding reads the same shapes back with a bound check before every
read, then hands the values to pydantic, so every constraint on the model is checked at the
boundary. Any failure becomes a :class:`MessageError` naming the field.

Every message has exactly one encoding: a varint must be minimal and fit 64 bits, a bool is 0 or
1, and dict keys are written in increasing order and must be read back strictly increasing. So
``encode(decode(b)) == b`` for every ``b`` that decodes, and a digest of a message's bytes is a
digest of the message.
"""

from __future__ import annotations

import functools
import typing
from collections.abc import Callable
from typing import Annotated, Any, get_args, get_origin

from pydantic import BaseModel, PlainValidator, ValidationError
from pydantic.fields import FieldInfo

from prism_secure.protocols.errors import MessageError

Writer = Callable[[bytearray, Any], None]
Reader = Callable[["_Cursor", str], Any]


class _Cursor:
    """A read position in a buffer that refuses to run past the end."""

    __slots__ = ("buf", "pos")

    def __init__(self, buf: bytes | bytearray | memoryview, start: int = 0) -> None:
        # Indexing bytes is fast and slices are the values we return; ``bytes(b)`` of a bytes
        # object is that object, so a message of bytes is read where it lies, without a copy.
        self.buf = bytes(buf)
        self.pos = start

    def _advance(self, n: int, field: str) -> tuple[int, int]:
        """The span of the next ``n`` bytes, now consumed; refused if the buffer ends first."""
        start, end = self.pos, self.pos + n
        if end > len(self.buf):
            raise MessageError(field, f"truncated: needs {n} bytes, {self.remaining} left")
        self.pos = end
        return start, end

    def take(self, n: int, field: str) -> bytes:
        start, end = self._advance(n, field)
        return self.buf[start:end]

    def view(self, n: int, field: str) -> memoryview:
        """Like :meth:`take`, but a read-only view into the (immutable) buffer, not a copy."""
        start, end = self._advance(n, field)
        return memoryview(self.buf)[start:end]

    @property
    def remaining(self) -> int:
        return len(self.buf) - self.pos


class _Borrowed:
    """Marks a bytes field that decodes to a view into the message instead of a copy."""

    def __repr__(self) -> str:
        return "BORROWED"


BORROWED = _Borrowed()


def _bytes_or_view(value: object) -> bytes | memoryview:
    if isinstance(value, bytes):
        return value
    if isinstance(value, memoryview) and value.readonly and value.format == "B":
        return value
    raise ValueError(f"expected bytes, got {type(value).__name__}")


# A large payload (a masked vector: megabytes) that the reader only reads: decoding hands back a
# read-only memoryview of the received bytes, so a message is never copied to be parsed.
BorrowedBytes = Annotated[bytes, BORROWED, PlainValidator(_bytes_or_view)]


def write_varint(out: bytearray, value: int) -> None:
    if value < 0:
        raise ValueError("varints are unsigned")
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def read_varint(cur: _Cursor, field: str) -> int:
    buf, pos = cur.buf, cur.pos
    if pos < len(buf) and buf[pos] < 0x80:  # the common one-byte case
        cur.pos = pos + 1
        return buf[pos]
    value = shift = 0
    for i in range(10):
        if pos >= len(buf):
            raise MessageError(field, "truncated: inside a varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            if byte == 0 and i:
                raise MessageError(field, "non-minimal varint (a zero final byte)")
            if value >> 64:
                raise MessageError(field, "varint exceeds 64 bits")
            cur.pos = pos
            return value
        shift += 7
    raise MessageError(field, "varint longer than 10 bytes")


def _read_bool(cur: _Cursor, field: str) -> bool:
    byte = cur.take(1, field)[0]
    if byte > 1:
        raise MessageError(field, f"a bool is 0 or 1, got {byte}")
    return bool(byte)


def _unwrap(tp: Any) -> Any:
    """Strip ``Annotated[...]`` so only the shape of a type is left."""
    while get_origin(tp) is typing.Annotated:
        tp = get_args(tp)[0]
    return tp


def _write_bytes(out: bytearray, value: bytes) -> None:
    write_varint(out, len(value))
    out += value


def _read_bytes(cur: _Cursor, field: str) -> bytes:
    return cur.take(read_varint(cur, field), field)


def _write_str(out: bytearray, value: str) -> None:
    _write_bytes(out, value.encode())


def _read_borrowed(cur: _Cursor, field: str) -> memoryview:
    return cur.view(read_varint(cur, field), field)


def _read_str(cur: _Cursor, field: str) -> str:
    try:
        return _read_bytes(cur, field).decode()
    except UnicodeDecodeError as exc:
        raise MessageError(field, "not UTF-8") from exc


def _read_count(cur: _Cursor, field: str) -> int:
    count = read_varint(cur, field)
    if count > cur.remaining:  # every element takes at least one byte
        raise MessageError(field, f"count {count} exceeds the {cur.remaining} bytes left")
    return count


@functools.cache
def _codec(tp: Any) -> tuple[Writer, Reader]:
    tp = _unwrap(tp)
    origin = get_origin(tp)
    if tp is bool:
        return (lambda o, v: o.append(1 if v else 0)), _read_bool
    if tp is int:
        return write_varint, read_varint
    if tp is bytes:
        return _write_bytes, _read_bytes
    if tp is str:
        return _write_str, _read_str
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return _model_writer(tp), _model_reader(tp)
    if origin is list:
        (item,) = get_args(tp)
        w, r = _codec(item)

        def write_list(out: bytearray, value: list[Any]) -> None:
            write_varint(out, len(value))
            for v in value:
                w(out, v)

        def read_list(cur: _Cursor, field: str) -> list[Any]:
            return [r(cur, field) for _ in range(_read_count(cur, field))]

        return write_list, read_list
    if origin is dict:
        kt, vt = get_args(tp)
        kw, kr = _codec(kt)
        vw, vr = _codec(vt)

        def write_dict(out: bytearray, value: dict[Any, Any]) -> None:
            write_varint(out, len(value))
            for k in sorted(value):
                kw(out, k)
                vw(out, value[k])

        def read_dict(cur: _Cursor, field: str) -> dict[Any, Any]:
            result: dict[Any, Any] = {}
            last = None
            for _ in range(_read_count(cur, field)):
                key = kr(cur, field)
                if key in result:
                    raise MessageError(field, f"duplicate key {key!r}")
                if last is not None and key < last:
                    raise MessageError(field, f"key {key!r} out of increasing order")
                result[key] = vr(cur, field)
                last = key
            return result

        return write_dict, read_dict
    raise TypeError(f"no wire codec for {tp!r}")


def _field_codec(info: FieldInfo) -> tuple[Writer, Reader]:
    """A field's codec; pydantic keeps ``Annotated`` extras in ``metadata``, not the annotation."""
    if BORROWED in info.metadata:
        return _write_bytes, _read_borrowed
    return _codec(info.annotation)


def _model_writer(cls: type[BaseModel]) -> Writer:
    def write(out: bytearray, model: BaseModel) -> None:
        for name, info in cls.model_fields.items():
            _field_codec(info)[0](out, getattr(model, name))

    return write


def _model_reader(cls: type[BaseModel]) -> Reader:
    def read(cur: _Cursor, field: str) -> BaseModel:
        values = {
            name: _field_codec(info)[1](cur, f"{field}.{name}" if field else name)
            for name, info in cls.model_fields.items()
        }
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            where = f"{field}.{loc}" if field else loc
            raise MessageError(where or cls.__name__, first["msg"]) from None

    return read


def encode_fields(model: BaseModel) -> bytearray:
    """The model's fields in declaration order, without any header."""
    out = bytearray()
    _model_writer(type(model))(out, model)
    return out


def decode_fields(
    cls: type[BaseModel], data: bytes | bytearray | memoryview, start: int = 0
) -> BaseModel:
    """Read exactly one ``cls`` from ``data[start:]``; leftover bytes are an error (oversized
    message)."""
    cur = _Cursor(data, start)
    model = _model_reader(cls)(cur, "")
    if cur.remaining:
        raise MessageError(cls.__name__, f"{cur.remaining} unexpected trailing bytes")
    return model
