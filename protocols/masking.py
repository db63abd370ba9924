"""What a client computes from its secrets for the server: its masked vector, and survivor tags.

The masked vector is the input plus the self-mask (from the seed) plus one pairwise mask per
neighbour that shared keys, added by the lower id and subtracted by the higher, so pairwise
masks cancel in the sum; a survivor tag is a MAC over the survivor list that only the two
peers of a pair can compute.
"""

from __future__ import annotations

import hashlib
import hmac
import struct

import numpy as np

from prism_secure.protocols.params import SessionParams
from prism_secure.protocols.prg import Expander
from prism_secure.protocols.vectors import pack

TAG_BYTES = 16


def masked_vector(
    vector: np.ndarray, seed: bytes, pairwise: dict[int, bytes], own_id: int, p: SessionParams
) -> bytes:
    """``vector`` (masked in place) plus its self-mask and pairwise masks, packed at b bits."""
    expander = Expander(p.length, p.dtype, p.prg)
    vector += expander(seed)
    for peer in sorted(pairwise):
        stream = expander(pairwise[peer])
        if own_id < peer:
            vector += stream
        else:
            vector -= stream
    if p.bits < p.dtype.itemsize * 8:
        vector &= np.asarray(p.modulus_mask, dtype=p.dtype)
    return pack(vector, p.bits)


def survivor_tag(key: bytes, session: bytes, survivors: list[int]) -> bytes:
    """MAC over the survivor list; a peer holding the same key checks we saw the same list."""
    body = session + struct.pack(f"<{len(survivors)}I", *survivors)
    return hmac.new(key, body, hashlib.sha256).digest()[:TAG_BYTES]
