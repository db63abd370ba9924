"""Who shares with whom: the full graph (SecAgg) or a random Harary graph (SecAgg+).

The SecAgg+ graph places the roster on a ring in an order drawn from the session id and links
each client to its k/2 nearest on either side. Since the session id hashes every client's fresh
public keys, no single party chooses the order, and server and clients compute the same graph.
"""

from __future__ import annotations

import hashlib

import numpy as np

from prism_secure.protocols.prg import expand


def neighbours(ids: list[int], session_id: bytes, degree: int | None) -> dict[int, frozenset[int]]:
    """Each id's neighbours (never itself); ``degree=None`` or ``>= len(ids) - 1`` is full."""
    ids = sorted(ids)
    m = len(ids)
    if degree is None or degree >= m - 1:
        everyone = frozenset(ids)
        return {i: everyone - {i} for i in ids}
    seed = hashlib.sha256(b"prism-secagg/v1/graph\x00" + session_id).digest()
    order = np.argsort(expand(seed, m, np.dtype(np.uint64)), kind="stable")
    ring = [ids[p] for p in order]
    half = degree // 2
    result = {}
    for pos, client in enumerate(ring):
        near = {ring[(pos + off) % m] for off in range(-half, half + 1) if off}
        result[client] = frozenset(near)
    return result
