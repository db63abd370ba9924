"""Which SuperNode serves which partition: learnt by a hello exchange with every new node.

A node whose hello fails (a bad node config, a missing data folder) is reported with its reason
and left out; it is asked again only if it reconnects under a new node id. A restarted
SuperNode gets a new id and is welcomed back for the partition it names.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from prism_secure.federation.flower import stages
from prism_secure.protocols.adapters.flower.transport import (
    FlowerPayloadError,
    exchange,
    pack,
    unpack,
)


@dataclass
class NodeMap:
    grid: object
    partitions: int
    deadline: float
    poll: float = 0.2
    notice: Callable[[str], None] = print
    _cid_of: dict[int, int] = field(default_factory=dict)
    _node_of: dict[int, int] = field(default_factory=dict)
    _failed: set[int] = field(default_factory=set)

    def node_of(self, cid: int) -> int | None:
        return self._node_of.get(cid)

    @property
    def known(self) -> int:
        return len(self._node_of)

    def refresh(self) -> None:
        """Greet nodes not seen before; the latest node to claim a partition serves it."""
        online = set(self.grid.get_node_ids())  # type: ignore[attr-defined]
        fresh = sorted(online - set(self._cid_of) - self._failed)
        if not fresh:
            return
        result = exchange(
            self.grid,
            {n: pack(stages.HELLO, 0, b"") for n in fresh},
            message_type=stages.HELLO_TYPE,
            group_id="hello",
            deadline=self.deadline,
            poll=self.poll,
        )
        for node, reason in sorted(result.errors.items()):
            self._failed.add(node)
            self.notice(f"SuperNode {node} cannot take part: {reason}")
        for node, reply in sorted(result.replies.items()):
            try:
                payload = unpack(reply.content, stage=stages.HELLO)
                cid, total = payload.fields.get("partition"), payload.fields.get("partitions")
                if not isinstance(cid, int) or total != self.partitions or not 0 <= cid < total:
                    raise FlowerPayloadError("partition", f"{cid} of {total} partitions")
            except FlowerPayloadError as exc:
                self._failed.add(node)
                self.notice(f"SuperNode {node} cannot take part: {exc}")
                continue
            old = self._node_of.get(cid)
            if old is not None and old != node:
                self._cid_of.pop(old, None)
            self._cid_of[node], self._node_of[cid] = cid, node


def wait_for_sites(nodes: NodeMap, expected: int, timeout: float) -> None:
    """Greet sites as they connect, until all ``expected`` partitions are served or time is up."""
    start = time.monotonic()
    while nodes.known < expected and time.monotonic() - start < timeout:
        nodes.refresh()
        if nodes.known < expected:
            time.sleep(nodes.poll)
