"""Key derivation: HKDF-SHA256 over an X25519 shared secret, bound to its full context.

The ``info`` string carries the purpose, the session id, the round and both client ids, so a key
derived for one pair, round or session can never be reused for another.
"""

from __future__ import annotations

import struct

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from prism_secure.protocols.secagg.crypto.keys import exchange as _checked_exchange

PURPOSES = (b"share-enc", b"mask", b"consistency")


def derive(
    shared: bytes, purpose: bytes, session_id: bytes, round_index: int, first: int, second: int
) -> bytes:
    """A 32-byte key for ``purpose`` between ``first`` and ``second`` (order matters)."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}")
    info = b"prism-secagg/v1\x00" + purpose + b"\x00" + session_id
    info += struct.pack("<QII", round_index, first, second)
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(shared)


def exchange(private: X25519PrivateKey, public: bytes, field: str = "public_key") -> bytes:
    """Raw X25519 shared secret with a peer's 32-byte public key; a bad key is a typed error."""
    return _checked_exchange(private, public, field)


def pair(a: int, b: int) -> tuple[int, int]:
    """Symmetric order for keys both peers must derive alike (pairwise masks)."""
    return (a, b) if a < b else (b, a)
