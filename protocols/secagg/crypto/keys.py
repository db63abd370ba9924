"""Checks on X25519 public keys from peers, before any key agreement uses them.

A key is refused if its encoding is not canonical (u >= 2^255 - 19, which includes every key
with the top bit set: one key, one encoding, so one session id) or if it has small order: such a
point makes every shared secret all zero, whatever our private key is, so any pairwise key
derived from it is public. The small-order points of Curve25519 and its twist have exactly five
canonical u-coordinates (listed below; a test checks each against pyca's own refusal). The
server also runs a trial exchange with a fresh ephemeral key, which pyca refuses for every
small-order point, so the two checks back each other up.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from prism_secure.protocols.errors import InvalidPublicKeyError

FIELD_PRIME = (1 << 255) - 19
SMALL_ORDER_U = frozenset(
    {
        0,
        1,
        325606250916557431795983626356110631294008115727848805560023387167927233504,
        39382357235489614581723060781553021112529911719440698176882885853963445705823,
        FIELD_PRIME - 1,
    }
)


def check_public_key(key: bytes, field: str, *, trial: X25519PrivateKey | None = None) -> None:
    """Raise :class:`InvalidPublicKeyError` naming ``field`` unless ``key`` is a safe X25519 key.

    ``trial``: an ephemeral private key (used for nothing else) for a trial exchange.
    """
    if len(key) != 32:
        raise InvalidPublicKeyError(field, f"{len(key)} bytes, expected 32")
    u = int.from_bytes(key, "little")
    if u >= FIELD_PRIME:
        raise InvalidPublicKeyError(field, "non-canonical encoding (u >= 2^255 - 19)")
    if u in SMALL_ORDER_U:
        raise InvalidPublicKeyError(field, "a point of small order (all-zero shared secret)")
    if trial is not None:
        exchange(trial, key, field)


def exchange(private: X25519PrivateKey, public: bytes, field: str) -> bytes:
    """X25519 with a peer's key; a key pyca refuses becomes :class:`InvalidPublicKeyError`."""
    try:
        return private.exchange(X25519PublicKey.from_public_bytes(public))
    except ValueError:
        raise InvalidPublicKeyError(field, "key agreement refused (small-order point)") from None
