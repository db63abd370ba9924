"""Every message of the protocol as a frozen pydantic model, and its versioned wire form.

Wire form: one byte of format version, one byte of message type, then the fields as
:mod:`prism_secure.protocols.encoding` writes them. Decoding checks the size limit first, then the
header, then every field constraint below; anything wrong is a :class:`MessageError`.

Version 2 added the self-mask seed commitment (AdvertiseKeys, RosterEntry), the share digests
(ShareKeysReply, MaskedInputRequest) and ClientAbort; its integers and dict keys have exactly one
encoding (see :mod:`prism_secure.protocols.encoding`).
"""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from prism_secure.protocols.encoding import BorrowedBytes, decode_fields, encode_fields
from prism_secure.protocols.errors import MessageError

WIRE_VERSION = 2

ClientId = Annotated[int, Field(ge=0, lt=2**32)]
Round = Annotated[int, Field(ge=0, lt=2**63)]
PublicKey = Annotated[bytes, Field(min_length=32, max_length=32)]
SessionId = Annotated[bytes, Field(min_length=32, max_length=32)]
Tag = Annotated[bytes, Field(min_length=16, max_length=16)]
# 12-byte nonce + 4 + 4 byte ids + two 66-byte shares + 16-byte tag.
Ciphertext = Annotated[bytes, Field(min_length=168, max_length=168)]
Share = Annotated[bytes, Field(min_length=66, max_length=66)]
Commitment = Annotated[bytes, Field(min_length=32, max_length=32)]
# 16-byte digest of the seed share, then 16 of the key share (see commitments.py).
ShareDigests = Annotated[bytes, Field(min_length=32, max_length=32)]
Reason = Annotated[str, Field(max_length=1000)]


class Message(BaseModel):
    """Base of every wire message; ``TYPE`` is its one-byte tag, ``PHASE`` its protocol step
    (0 advertise .. 4 unmask; -1 for the aborts, which may come at any step)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)
    TYPE: ClassVar[int]
    PHASE: ClassVar[int]
    FROM_SERVER: ClassVar[bool]


class FromClient(Message):
    """A client's message: its id (checked against the transport's) and the round."""

    FROM_SERVER = False
    sender: ClientId
    round: Round


class ClientReply(FromClient):
    """A client's reply once the session is fixed: it carries the session id."""

    session_id: SessionId


class FromServer(Message):
    """A server's message: the round it belongs to."""

    FROM_SERVER = True
    round: Round


class ServerRequest(FromServer):
    """A server's request once the session is fixed (or, in ShareKeys, being fixed)."""

    session_id: SessionId


# ---- client -> server ------------------------------------------------------------------------


class AdvertiseKeys(FromClient):
    """Phase 0: a client's two fresh X25519 public keys (share encryption, mask derivation) and
    its commitment to this round's self-mask seed."""

    TYPE, PHASE = 1, 0
    share_key: PublicKey
    mask_key: PublicKey
    seed_commitment: Commitment


class ShareKeysReply(ClientReply):
    """Phase 1: the client's shares, each encrypted to one neighbour, and the digests of the
    shares it dealt each holder (its neighbours and itself), which the server keeps."""

    TYPE, PHASE = 3, 1
    ciphertexts: dict[ClientId, Ciphertext]
    share_digests: dict[ClientId, ShareDigests]


class MaskedInputReply(ClientReply):
    """Phase 2: the masked vector, packed at ``bits`` bits per entry."""

    TYPE, PHASE = 5, 2
    vector: BorrowedBytes  # decoded as a view of the received bytes, not a copy


class ConsistencyReply(ClientReply):
    """Phase 3: one MAC per peer over the survivor list, so peers can check they saw the same."""

    TYPE, PHASE = 7, 3
    tags: dict[ClientId, Tag]


class UnmaskReply(ClientReply):
    """Phase 4: self-mask seed shares of survivors, mask-key shares of dropped clients."""

    TYPE, PHASE = 9, 4
    seed_shares: dict[ClientId, Share]
    key_shares: dict[ClientId, Share]


class ClientAbort(FromClient):
    """Client to server, at any phase: the sender refused a message and left the round.

    The server drops the sender like a dropout and records the reason.
    """

    TYPE, PHASE = 14, -1
    reason: Reason


# ---- server -> client ------------------------------------------------------------------------


class RosterEntry(BaseModel):
    """One advertised client in the ShareKeysRequest: its id, keys and seed commitment."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    client: ClientId
    share_key: PublicKey
    mask_key: PublicKey
    seed_commitment: Commitment


class ShareKeysRequest(ServerRequest):
    """Phase 1: every advertised key; the client recomputes the session id from them."""

    TYPE, PHASE = 2, 1
    roster: list[RosterEntry]


class MaskedInputRequest(ServerRequest):
    """Phase 2: the ciphertexts other clients addressed to this one, with their dealers' digests
    of the shares inside (the client checks them, so a wrong digest is caught before unmasking)."""

    TYPE, PHASE = 4, 2
    ciphertexts: dict[ClientId, Ciphertext]
    share_digests: dict[ClientId, ShareDigests]


class ConsistencyRequest(ServerRequest):
    """Phase 3: the server's list of clients whose masked input arrived."""

    TYPE, PHASE = 6, 3
    survivors: list[ClientId]


class UnmaskRequest(ServerRequest):
    """Phase 4: who survived and who dropped (among this client's share holders), what to send."""

    TYPE, PHASE = 8, 4
    survivors: list[ClientId]
    dropped: list[ClientId]
    seed_for: list[ClientId]
    key_for: list[ClientId]
    tags: dict[ClientId, Tag]


class Abort(FromServer):
    """Server to client only: the round stopped (too few left, or a dealer cheated); for logs.

    A server refuses one sent by a client (:class:`OutOfOrderError`): a client leaves with
    :class:`ClientAbort`.
    """

    TYPE, PHASE = 15, -1
    reason: Reason


MESSAGE_TYPES: dict[int, type[Message]] = {
    cls.TYPE: cls
    for cls in (
        AdvertiseKeys,
        ShareKeysRequest,
        ShareKeysReply,
        MaskedInputRequest,
        MaskedInputReply,
        ConsistencyRequest,
        ConsistencyReply,
        UnmaskRequest,
        UnmaskReply,
        Abort,
        ClientAbort,
    )
}


def encode(message: Message) -> bytes:
    """The versioned wire form of ``message``."""
    out = bytearray((WIRE_VERSION, message.TYPE))
    out += encode_fields(message)
    return bytes(out)


def decode(data: bytes, *, max_size: int) -> Message:
    """Parse and validate one message; ``max_size`` bounds what we are willing to read."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise MessageError("message", f"expected bytes, got {type(data).__name__}")
    if len(data) > max_size:
        raise MessageError("message", f"oversized: {len(data)} bytes, limit {max_size}")
    if len(data) < 2:
        raise MessageError("message", "truncated header")
    if data[0] != WIRE_VERSION:
        raise MessageError("version", f"unsupported wire version {data[0]}")
    cls = MESSAGE_TYPES.get(data[1])
    if cls is None:
        raise MessageError("type", f"unknown message type {data[1]}")
    return decode_fields(cls, data, start=2)  # type: ignore[return-value]
