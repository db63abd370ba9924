"""Who shares with whom: the full graph (SecAgg) or a random Harary graph (SecAgg+).

The SecAgg+ graph places the roster on a ring in an order drawn from the session id and links
each client to its k/2 nearest on either side. Since the session id hashes every client's fresh
public keys, no single party chooses the order, and server and clients compute the same graph.

Nothing here stores the whole graph: :class:`Graph` keeps the ring (O(n)) and answers one
client's neighbours on demand (O(k) on the ring, O(n) on the full graph), so a roster of n costs
O(n) memory however it is used, never O(n^2).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np

from prism_secure.protocols.secagg.crypto.prg import expand


class Graph:
    """The session's graph over ``ids``; ``degree=None`` or ``>= len(ids) - 1`` is full."""

    def __init__(self, ids: Iterable[int], session_id: bytes, degree: int | None) -> None:
        self.ids = frozenset(int(i) for i in ids)
        m = len(self.ids)
        self.full = degree is None or degree >= m - 1
        self._half = 0 if degree is None else degree // 2
        self._ring: list[int] = []
        self._position: dict[int, int] = {}
        if not self.full:
            ordered = sorted(self.ids)
            seed = hashlib.sha256(b"prism-secagg/v1/graph\x00" + session_id).digest()
            order = np.argsort(expand(seed, m, np.dtype(np.uint64)), kind="stable")
            self._ring = [ordered[p] for p in order.tolist()]
            self._position = {c: pos for pos, c in enumerate(self._ring)}

    def __contains__(self, client: object) -> bool:
        return client in self.ids

    def __getitem__(self, client: int) -> frozenset[int]:
        """The neighbours of ``client`` (never itself); KeyError if it is not in the graph."""
        if client not in self.ids:
            raise KeyError(client)
        if self.full:
            return self.ids - {client}
        m, pos = len(self._ring), self._position[client]
        return frozenset(
            self._ring[(pos + off) % m] for off in range(-self._half, self._half + 1) if off
        )


def neighbours(ids: list[int], session_id: bytes, degree: int | None) -> dict[int, frozenset[int]]:
    """Every id's neighbours as a dict: for analysis and tests (O(n^2) on the full graph)."""
    graph = Graph(ids, session_id, degree)
    return {i: graph[i] for i in sorted(graph.ids)}
