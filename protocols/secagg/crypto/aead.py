"""Authenticated encryption of shares: AES-256-GCM or ChaCha20-Poly1305 with a random nonce.

The associated data binds the session id and both client ids, so a ciphertext moved to another
pair or session fails authentication (:class:`ShareDecryptionError`).
"""

from __future__ import annotations

import os
from typing import Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from prism_secure.protocols.errors import ShareDecryptionError

AeadKind = Literal["aes-gcm", "chacha20-poly1305"]
NONCE_BYTES = 12
OVERHEAD = NONCE_BYTES + 16


def _cipher(kind: AeadKind, key: bytes) -> AESGCM | ChaCha20Poly1305:
    if kind == "aes-gcm":
        return AESGCM(key)
    if kind == "chacha20-poly1305":
        return ChaCha20Poly1305(key)
    raise ValueError(f"unknown AEAD {kind!r}")


def seal(kind: AeadKind, key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + _cipher(kind, key).encrypt(nonce, plaintext, aad)


def open_sealed(kind: AeadKind, key: bytes, ciphertext: bytes, aad: bytes, *, field: str) -> bytes:
    if len(ciphertext) < OVERHEAD:
        raise ShareDecryptionError(field, "ciphertext too short")
    try:
        return _cipher(kind, key).decrypt(ciphertext[:NONCE_BYTES], ciphertext[NONCE_BYTES:], aad)
    except InvalidTag:
        raise ShareDecryptionError(
            field, "authentication failed (tampered, misrouted, or another session id)"
        ) from None
