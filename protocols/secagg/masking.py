"""The masking arithmetic both sides share, written once so that the masks cancel by construction.

A client's masked vector is its input plus its self-mask (the keystream of its seed) plus one
pairwise mask per neighbour that shared keys, added by the lower id and subtracted by the higher,
all mod 2^b, so pairwise masks cancel in the sum. The server removes the survivors' self-masks and
the pairwise masks that dropped clients' partners added, with the same functions: the same graph,
the same pairwise seed, the same sign rule, the same reduction. A survivor tag is a MAC over the
survivor list that only the two peers of a pair can compute.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from collections.abc import Iterable, Mapping

import numpy as np
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from prism_secure.protocols.secagg.bulk import apply_streams
from prism_secure.protocols.secagg.crypto import kdf
from prism_secure.protocols.secagg.graph import Graph
from prism_secure.protocols.secagg.params import SessionParams
from prism_secure.protocols.secagg.vectors import pack

TAG_BYTES = 16


def session_graph(ids: Iterable[int], session: bytes, params: SessionParams) -> Graph:
    """Who shares with whom in this session: the SecAgg+ ring of degree k, or the full graph."""
    return Graph(ids, session, params.degree)


def pairwise_seed(
    private: X25519PrivateKey,
    peer_public: bytes,
    session: bytes,
    round_index: int,
    own: int,
    peer: int,
    *,
    field: str,
) -> bytes:
    """The seed of the mask between ``own`` and ``peer``: both ends of the pair derive the same."""
    shared = kdf.exchange(private, peer_public, field)
    a, b = kdf.pair(own, peer)
    return kdf.derive(shared, b"mask", session, round_index, a, b)


def reduce(vector: np.ndarray, params: SessionParams) -> np.ndarray:
    """``vector`` mod 2^b, in place (nothing to do when b fills the storage dtype)."""
    if params.bits < params.dtype.itemsize * 8:
        vector &= np.asarray(params.modulus_mask, dtype=params.dtype)
    return vector


def masked_vector(
    vector: np.ndarray, seed: bytes, pairwise: Mapping[int, bytes], own_id: int, p: SessionParams
) -> bytes:
    """``vector`` (masked in place) plus its self-mask and pairwise masks, packed at b bits."""
    streams = [(seed, True)] + [(pairwise[peer], own_id < peer) for peer in sorted(pairwise)]
    apply_streams(vector, streams, p.prg)
    return pack(reduce(vector, p), p.bits)


def strip_masks(
    total: np.ndarray,
    params: SessionParams,
    session: bytes,
    round_index: int,
    graph: Graph,
    mask_keys: Mapping[int, bytes],
    seeds: Mapping[int, bytes],
    keys: Mapping[int, X25519PrivateKey],
) -> np.ndarray:
    """Take the survivors' self-masks (``seeds``) and the pairwise masks their dropped partners
    (``keys``: recovered mask private keys) would have cancelled out of ``total``, in place.

    ``mask_keys`` are the advertised mask public keys, by client.
    """
    streams = [(seeds[u], False) for u in sorted(seeds)]
    for v, private in sorted(keys.items()):
        for u in sorted(graph[v] & seeds.keys()):
            field = f"roster[{u}].mask_key"
            seed = pairwise_seed(private, mask_keys[u], session, round_index, v, u, field=field)
            streams.append((seed, u > v))  # undo u's side: u < v added the stream, u > v took it
    apply_streams(total, streams, params.prg)
    return reduce(total, params)


def survivor_tag(key: bytes, session: bytes, survivors: list[int]) -> bytes:
    """MAC over the survivor list; a peer holding the same key checks we saw the same list."""
    body = session + struct.pack(f"<{len(survivors)}I", *survivors)
    return hmac.new(key, body, hashlib.sha256).digest()[:TAG_BYTES]
