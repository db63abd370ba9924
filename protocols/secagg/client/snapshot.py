"""A client's state as bytes, so that another process can continue its round.

Flower runs every protocol message in a fresh ClientApp process: the client's state must survive
between them. :func:`export_state` writes the round's facts and the current state's record;
:func:`restore_state` reads them back into the very same state, which answers the next message
byte for byte as the original would have.

**A saved state is as secret as the keys.** Depending on the state it holds the client's two
X25519 private keys, its self-mask seed, its input, the secrets agreed with each neighbour and
the shares it holds of its neighbours' secrets. Whoever reads it can unmask this client's input
and, with the server, help unmask its neighbours'. Keep it on the client, where only the client
can read it; never send it to the server or log it. (Flower keeps ``context.state`` in the
SuperNode, which talks to its ClientApps over plaintext loopback unless it is given TLS.)

Format, version 1: ``PSCS``, a version byte, the state's kind byte, the state's record in the
pickle-free codec of :mod:`prism_secure.protocols.encoding`, then SHA-256 over all of it. The
checksum catches corruption and truncation; it is not a MAC (whoever can write the blob can read
the keys in it). Loading checks the magic, the version, the checksum, the kind, every field's
constraints and the state's invariants, and raises :class:`StateError` naming the field;
nothing is restored unless everything is.
"""

from __future__ import annotations

import hashlib
import hmac

from pydantic import ValidationError

from prism_secure.protocols.encoding import decode_fields, encode_fields
from prism_secure.protocols.errors import MessageError, StateError
from prism_secure.protocols.secagg.client.records import Record, header
from prism_secure.protocols.secagg.client.states.aborted import AbortedState
from prism_secure.protocols.secagg.client.states.advertise import AdvertiseKeysState
from prism_secure.protocols.secagg.client.states.base import ClientState, RoundInfo
from prism_secure.protocols.secagg.client.states.completed import CompletedState
from prism_secure.protocols.secagg.client.states.consistency import ConsistencyState
from prism_secure.protocols.secagg.client.states.masked_input import MaskedInputState
from prism_secure.protocols.secagg.client.states.share_keys import ShareKeysState
from prism_secure.protocols.secagg.client.states.unmask import UnmaskState
from prism_secure.protocols.secagg.params import SessionParams

MAGIC = b"PSCS"
VERSION = 1
_DIGEST = 32
_HEAD = len(MAGIC) + 2
STATES: tuple[type[ClientState], ...] = (
    AdvertiseKeysState,
    ShareKeysState,
    MaskedInputState,
    ConsistencyState,
    UnmaskState,
    CompletedState,
    AbortedState,
)
_BY_KIND = {cls.KIND: cls for cls in STATES}


def export_state(info: RoundInfo, state: ClientState) -> bytes:
    """The saved form of ``state`` in the round ``info`` (secret: see the module docstring)."""
    fields = header(info.client_id, info.params, info.round_index, info.model_digest)
    body = MAGIC + bytes((VERSION, state.KIND)) + encode_fields(state.to_record(fields, info))
    return body + hashlib.sha256(body).digest()


def restore_state(data: bytes) -> tuple[RoundInfo, ClientState]:
    """The round and the state ``data`` holds; :class:`StateError` if it does not load."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise StateError("state", f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) < _HEAD + _DIGEST:
        raise StateError("state", f"truncated: {len(data)} bytes")
    body = data[:-_DIGEST]
    if body[: len(MAGIC)] != MAGIC:
        raise StateError("magic", "not a saved SecAgg client state")
    if body[len(MAGIC)] != VERSION:
        raise StateError("version", f"unsupported version {body[len(MAGIC)]}; this is {VERSION}")
    if not hmac.compare_digest(hashlib.sha256(body).digest(), data[-_DIGEST:]):
        raise StateError("checksum", "SHA-256 mismatch: corrupted or truncated")
    cls = _BY_KIND.get(body[len(MAGIC) + 1])
    if cls is None:
        raise StateError("kind", f"unknown state kind {body[len(MAGIC) + 1]}")
    try:
        record = decode_fields(cls.RECORD, body[_HEAD:])
    except MessageError as exc:
        raise StateError(exc.field, exc.detail) from None
    assert isinstance(record, Record)
    info = RoundInfo(record.client, _params(record.params), record.round, record.model_digest)
    return info, cls.from_record(record, info)


def _params(text: str) -> SessionParams:
    try:
        return SessionParams.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise StateError("params", f"{first['loc']}: {first['msg']}") from None
