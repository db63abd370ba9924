"""The session id: one hash over everything a round depends on.

It covers the parameters (the declared cohort size included), the round number, the digest of
the global model the server sent, and every advertised public key and seed commitment with its
client id. Each client computes it from what *it* received;
if the server showed two clients different rosters or different models, their ids differ, every
share between them fails authentication, and their pairwise masks would not cancel.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence

from prism_secure.protocols.secagg.messages import RosterEntry
from prism_secure.protocols.secagg.params import SessionParams


def session_id(
    params: SessionParams, round_index: int, model_digest: bytes, roster: Sequence[RosterEntry]
) -> bytes:
    h = hashlib.sha256(b"prism-secagg/v2/session\x00")
    h.update(params.digest())
    h.update(struct.pack("<QI", round_index, len(model_digest)))
    h.update(model_digest)
    h.update(struct.pack("<I", len(roster)))
    for entry in sorted(roster, key=lambda e: e.client):
        h.update(struct.pack("<I", entry.client))
        h.update(entry.share_key)
        h.update(entry.mask_key)
        h.update(entry.seed_commitment)
    return h.digest()
