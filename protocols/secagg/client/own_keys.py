"""A client's own secrets for one round (two X25519 private keys, the self-mask seed), and the
base of the two states that hold them before any share is dealt.

All three come from the operating system's generator (X25519 key generation, ``os.urandom``),
fresh every round. The share key encrypts the shares sent to each neighbour, the mask key agrees
the pairwise mask seeds, and the seed expands to the self-mask; the seed commitment binds the
seed to this client and round.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from prism_secure.protocols.secagg.client.records import KeysRecord, pack_input, unpack_input
from prism_secure.protocols.secagg.client.states.base import ClientState, RoundInfo
from prism_secure.protocols.secagg.crypto.commitments import seed_commitment

# The largest roster entry on the wire: a 5-byte id, then three 32-byte fields with their lengths.
ROSTER_ENTRY_MAX = 5 + 3 * 33


def pre_roster_limit(clients: int) -> int:
    """The largest ShareKeysRequest a cohort of ``clients`` can produce, with header slack."""
    return 256 + ROSTER_ENTRY_MAX * clients


@dataclass(frozen=True, repr=False)
class OwnKeys:
    """The round's own secrets: the share-encryption key, the mask key, the self-mask seed."""

    share_key: X25519PrivateKey
    mask_key: X25519PrivateKey
    seed: bytes

    @classmethod
    def fresh(cls) -> OwnKeys:
        share_key = X25519PrivateKey.generate()
        mask_key = X25519PrivateKey.generate()
        return cls(share_key, mask_key, os.urandom(32))

    def public_keys(self) -> tuple[bytes, bytes]:
        return (
            self.share_key.public_key().public_bytes_raw(),
            self.mask_key.public_key().public_bytes_raw(),
        )

    def commitment(self, info: RoundInfo) -> bytes:
        return seed_commitment(self.seed, info.client_id, info.round_index)

    def record_fields(self) -> dict[str, Any]:
        return {
            "share_key": self.share_key.private_bytes_raw(),
            "mask_key": self.mask_key.private_bytes_raw(),
            "seed": self.seed,
        }

    @classmethod
    def from_record(cls, record: KeysRecord) -> OwnKeys:
        return cls(
            X25519PrivateKey.from_private_bytes(record.share_key),
            X25519PrivateKey.from_private_bytes(record.mask_key),
            record.seed,
        )


@dataclass(frozen=True, repr=False)
class BeforeSharing(ClientState):
    """A state that holds the input and the round's own secrets, and no roster yet."""

    RECORD = KeysRecord
    vector: np.ndarray
    keys: OwnKeys

    @property
    def session(self) -> bytes:  # type: ignore[override]
        return b""

    @property
    def holds_secrets(self) -> bool:
        return True

    def max_message_size(self, info: RoundInfo) -> int:
        return pre_roster_limit(info.params.clients)

    def to_record(self, header: dict[str, Any], info: RoundInfo) -> KeysRecord:
        vector = pack_input(self.vector, info.params)
        return KeysRecord(**header, **self.keys.record_fields(), vector=vector)

    @classmethod
    def from_record(cls, record: KeysRecord, info: RoundInfo) -> Self:
        return cls(unpack_input(record.vector, info.params), OwnKeys.from_record(record))
