"""What a client deals in ShareKeys: shares of its two secrets, their digests, their plaintexts.

Shamir t-of-(k+1) shares of the self-mask seed and of the mask private key go to every holder
(the client's neighbours and itself); each neighbour's pair travels encrypted, and the digest of
every share goes to the server (see :mod:`prism_secure.protocols.secagg.crypto.commitments`).
The pairwise mask seeds are agreed here too, while the vector is not yet needed.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from prism_secure.protocols.errors import ShareDecryptionError
from prism_secure.protocols.secagg.crypto import aead, kdf, shamir
from prism_secure.protocols.secagg.crypto.commitments import pair_digest
from prism_secure.protocols.secagg.masking import pairwise_seed
from prism_secure.protocols.secagg.params import SessionParams

PLAINTEXT_BYTES = 8 + 2 * shamir.SHARE_BYTES


@dataclass(frozen=True)
class Dealt:
    """One holder's two shares (as integers) and their wire digests."""

    seed_share: int
    key_share: int
    digests: bytes


def deal(
    session: bytes, dealer: int, seed: bytes, mask_private: bytes, holders: list[int], t: int
) -> dict[int, Dealt]:
    """Fresh shares of ``seed`` and ``mask_private`` for each holder (x = id + 1)."""
    xs = [h + 1 for h in holders]
    seeds = shamir.split(int.from_bytes(seed, "little"), t, xs)
    keys = shamir.split(int.from_bytes(mask_private, "little"), t, xs)
    out = {}
    for h in holders:
        s, k = seeds[h + 1], keys[h + 1]
        digests = pair_digest(
            session, dealer, h, shamir.share_to_bytes(s), shamir.share_to_bytes(k)
        )
        out[h] = Dealt(s, k, digests)
    return out


def share_plaintext(sender: int, receiver: int, seed_share: int, key_share: int) -> bytes:
    return (
        struct.pack("<II", sender, receiver)
        + shamir.share_to_bytes(seed_share)
        + shamir.share_to_bytes(key_share)
    )


def share_aad(session: bytes, sender: int, receiver: int) -> bytes:
    return session + struct.pack("<II", sender, receiver)


def open_plaintext(
    plain: bytes, session: bytes, sender: int, receiver: int, digests: bytes
) -> tuple[int, int]:
    """The two shares inside a decrypted plaintext, checked against the dealer's digests."""
    field = f"ciphertexts[{sender}]"
    if len(plain) != PLAINTEXT_BYTES or struct.unpack("<II", plain[:8]) != (sender, receiver):
        raise ShareDecryptionError(field, "ids inside do not match")
    seed_bytes, key_bytes = plain[8 : 8 + shamir.SHARE_BYTES], plain[8 + shamir.SHARE_BYTES :]
    try:
        seed_share = shamir.share_from_bytes(seed_bytes)
        key_share = shamir.share_from_bytes(key_bytes)
    except ValueError as exc:
        raise ShareDecryptionError(field, str(exc)) from None
    if pair_digest(session, sender, receiver, seed_bytes, key_bytes) != digests:
        raise ShareDecryptionError(
            f"share_digests[{sender}]", "the dealer's digests do not match the shares it sent"
        )
    return seed_share, key_share


def seal_for_peers(
    params: SessionParams,
    session: bytes,
    round_index: int,
    dealer: int,
    private: tuple[X25519PrivateKey, X25519PrivateKey],
    peer_keys: dict[int, tuple[bytes, bytes]],
    dealt: dict[int, Dealt],
) -> tuple[dict[int, bytes], dict[int, bytes], dict[int, bytes]]:
    """Each peer's encrypted shares, and the two secrets agreed with it (share key, mask seed).

    The pairwise mask seed is agreed now, while the vector is not yet needed: the masked-input
    phase is then only keystream expansion and integer adds.
    """
    share_sk, mask_sk = private
    ciphertexts, share_secrets, mask_seeds = {}, {}, {}
    for peer in sorted(peer_keys):
        share_pk, mask_pk = peer_keys[peer]
        shared = kdf.exchange(share_sk, share_pk, f"roster[{peer}].share_key")
        share_secrets[peer] = shared
        key = kdf.derive(shared, b"share-enc", session, round_index, dealer, peer)
        plain = share_plaintext(dealer, peer, dealt[peer].seed_share, dealt[peer].key_share)
        ciphertexts[peer] = aead.seal(params.aead, key, plain, share_aad(session, dealer, peer))
        mask_seeds[peer] = pairwise_seed(
            mask_sk, mask_pk, session, round_index, dealer, peer, field=f"roster[{peer}].mask_key"
        )
    return ciphertexts, share_secrets, mask_seeds
