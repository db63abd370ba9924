"""The server's checks on one client's reply, phase by phase: pure functions, typed refusals.

A reply that fails is refused and ignored, and the round goes on with the others; checking never
changes what the server holds (the caller stores the reply only after its check passed). Every
advertised key is checked, with a trial exchange (:class:`InvalidPublicKeyError`), and every
share in an UnmaskReply against its dealer's digest (:class:`BadShareError` names the sender).
"""

from __future__ import annotations

from collections.abc import Mapping

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from prism_secure.protocols.errors import (
    BadShareError,
    MessageError,
    RosterError,
    UnexpectedPeerError,
    VectorLengthError,
)
from prism_secure.protocols.secagg.crypto import shamir
from prism_secure.protocols.secagg.crypto.commitments import DIGEST_BYTES, KEY, SEED, share_digest
from prism_secure.protocols.secagg.crypto.keys import check_public_key
from prism_secure.protocols.secagg.messages import (
    AdvertiseKeys,
    ConsistencyReply,
    MaskedInputReply,
    ShareKeysReply,
    UnmaskReply,
)
from prism_secure.protocols.secagg.params import SessionParams


def check_advertise(
    msg: AdvertiseKeys, keys_seen: set[bytes], probe: X25519PrivateKey
) -> frozenset[bytes]:
    """Two valid X25519 keys never advertised before; returns them (to mark as seen)."""
    check_public_key(msg.share_key, "share_key", trial=probe)
    check_public_key(msg.mask_key, "mask_key", trial=probe)
    keys = frozenset({msg.share_key, msg.mask_key})
    if len(keys) == 1 or keys & keys_seen:
        raise RosterError("share_key", "a public key already advertised (Sybil or replay)")
    return keys


def check_share_keys(msg: ShareKeysReply, neighbours: frozenset[int], sender: int) -> None:
    """One ciphertext per neighbour, and digests for the neighbours and the sender itself."""
    if set(msg.ciphertexts) != neighbours:
        raise UnexpectedPeerError("ciphertexts", "must address exactly the sender's neighbours")
    if set(msg.share_digests) != neighbours | {sender}:
        raise UnexpectedPeerError("share_digests", "must cover the sender's neighbours and it")


def check_masked_input(msg: MaskedInputReply, params: SessionParams) -> None:
    """A packed vector of exactly the session's size (every packing of that size is valid)."""
    if len(msg.vector) != params.packed_size:
        raise VectorLengthError("vector", f"{len(msg.vector)} bytes, expected {params.packed_size}")


def check_consistency(msg: ConsistencyReply, surviving_neighbours: set[int]) -> None:
    """A tag for exactly the sender's neighbours that shared keys and whose input arrived."""
    if set(msg.tags) != surviving_neighbours:
        raise UnexpectedPeerError("tags", "must cover exactly the surviving neighbours")


def check_unmask(
    msg: UnmaskReply,
    sender: int,
    requested: tuple[frozenset[int], frozenset[int]],
    digests: Mapping[int, Mapping[int, bytes]],
    session: bytes,
) -> None:
    """The shares asked of ``sender``, each in range and equal to what its dealer digested."""
    seed_for, key_for = requested
    if set(msg.seed_shares) != seed_for or set(msg.key_shares) != key_for:
        raise UnexpectedPeerError("seed_shares", "shares differ from those requested")
    for share in (*msg.seed_shares.values(), *msg.key_shares.values()):
        if int.from_bytes(share, "little") >= shamir.PRIME:
            raise MessageError("shares", "share out of field range")
    for kind, shares, half in ((SEED, msg.seed_shares, 0), (KEY, msg.key_shares, 1)):
        for owner, share in shares.items():
            want = digests[owner][sender][half * DIGEST_BYTES : (half + 1) * DIGEST_BYTES]
            if share_digest(session, owner, sender, kind, share) != want:
                raise BadShareError(sender, owner, kind.decode())
