"""What lets the server check shares without seeing the secrets behind them.

Each client commits in AdvertiseKeys to its self-mask seed (a hash; the seed is 32 uniform
bytes, so the hash hides it), and the commitment is bound into the session id with the roster.
Its mask key needs no extra commitment: the advertised X25519 public key is one.

When it deals, a client also sends, for every holder, a 16-byte digest of each share it dealt
that holder. The holder checks the digests against the shares it decrypted (so a dealer cannot
blame an honest holder), and the server checks every share in an UnmaskReply against its digest
(so a holder cannot slip in a wrong share). A share is a uniform element of a 521-bit field:
its digest, bound to the session id, both ids and the kind, reveals nothing usable.
"""

from __future__ import annotations

import hashlib
import struct

SEED = b"seed"
KEY = b"key"
DIGEST_BYTES = 16
PAIR_DIGEST_BYTES = 2 * DIGEST_BYTES  # seed share digest, then key share digest


def seed_commitment(seed: bytes, client: int, round_index: int) -> bytes:
    """A binding, hiding commitment to a 32-byte self-mask seed."""
    body = b"prism-secagg/v2/seed-commitment\x00" + struct.pack("<IQ", client, round_index)
    return hashlib.sha256(body + seed).digest()


def share_digest(session: bytes, owner: int, holder: int, kind: bytes, share: bytes) -> bytes:
    """Digest of the ``kind`` share of ``owner``'s secret dealt to ``holder`` in ``session``."""
    h = hashlib.sha256(b"prism-secagg/v2/share-digest\x00")
    h.update(session)
    h.update(struct.pack("<II", owner, holder))
    h.update(kind + b"\x00")
    h.update(share)
    return h.digest()[:DIGEST_BYTES]


def pair_digest(
    session: bytes, owner: int, holder: int, seed_share: bytes, key_share: bytes
) -> bytes:
    """Both digests of one holder's shares, as sent on the wire (seed, then key)."""
    return share_digest(session, owner, holder, SEED, seed_share) + share_digest(
        session, owner, holder, KEY, key_share
    )
