"""The server's last step: recover the secrets it may learn and check each one.

Every share was already checked against its dealer's digest on receipt, so a secret that does
not match its dealer's commitment (seed hash, or advertised mask public key) means the dealer
dealt inconsistent shares. With more than t shares, Berlekamp-Welch decoding may still recover
the committed secret; otherwise the round aborts naming the dealer (:class:`DealerError`).
All secrets are recovered and checked before any is used: nothing partial is computed; the
masks are then stripped by :func:`prism_secure.protocols.secagg.masking.strip_masks`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from prism_secure.protocols.errors import AbortedError, DealerError
from prism_secure.protocols.secagg.crypto import shamir
from prism_secure.protocols.secagg.crypto.commitments import seed_commitment
from prism_secure.protocols.secagg.messages import RosterEntry, UnmaskReply
from prism_secure.protocols.secagg.params import SessionParams


def collect(replies: Mapping[int, UnmaskReply], owner: int, kind: str) -> dict[int, int]:
    """The shares of ``owner``'s ``kind`` secret, keyed by x = holder id + 1."""
    return {
        holder + 1: int.from_bytes(getattr(reply, kind)[owner], "little")
        for holder, reply in replies.items()
        if owner in getattr(reply, kind)
    }


def recover(
    shares: dict[int, int], threshold: int, owner: int, kind: str, valid: Callable[[bytes], bool]
) -> bytes:
    """The 32-byte secret the shares encode, checked by ``valid`` against the commitment."""
    if len(shares) < threshold:
        raise AbortedError(
            f"client {owner}'s {kind} has {len(shares)} shares, threshold {threshold}",
            phase="unmask",
        )
    for attempt in (shamir.combine, shamir.correct):
        value = attempt(shares, threshold)
        if value is not None and value >> 256 == 0:
            secret = value.to_bytes(32, "little")
            if valid(secret):
                return secret
    raise DealerError(owner, kind)


def recover_all(
    replies: Mapping[int, UnmaskReply],
    roster: Mapping[int, RosterEntry],
    survivors: list[int],
    dropped: list[int],
    params: SessionParams,
    round_index: int,
) -> tuple[dict[int, bytes], dict[int, X25519PrivateKey]]:
    """Self-mask seeds of ``survivors`` and mask keys of ``dropped``, each one verified."""
    t = params.threshold
    seeds = {}
    for u in survivors:

        def seed_ok(secret: bytes, u: int = u) -> bool:
            return seed_commitment(secret, u, round_index) == roster[u].seed_commitment

        seeds[u] = recover(collect(replies, u, "seed_shares"), t, u, "seed", seed_ok)
    keys = {}
    for v in dropped:

        def key_ok(secret: bytes, v: int = v) -> bool:
            public = X25519PrivateKey.from_private_bytes(secret).public_key()
            return public.public_bytes_raw() == roster[v].mask_key

        secret = recover(collect(replies, v, "key_shares"), t, v, "key", key_ok)
        keys[v] = X25519PrivateKey.from_private_bytes(secret)
    return seeds, keys
