"""Waiting for ConsistencyRequest: check the survivor list, then MAC it for each surviving peer.

The list must be sorted, unique, known, and contain this client (its masked input arrived); a
tag per surviving neighbour that shared keys lets that neighbour check, in the unmask round, that
the server showed both of them the same list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from prism_secure.protocols.errors import StateError
from prism_secure.protocols.secagg.client.checks import check_survivors
from prism_secure.protocols.secagg.client.records import HeldRecord, held_fields, held_record
from prism_secure.protocols.secagg.client.states.base import HoldingShares, RoundInfo, Step, need
from prism_secure.protocols.secagg.client.states.unmask import UnmaskState
from prism_secure.protocols.secagg.crypto import kdf
from prism_secure.protocols.secagg.masking import survivor_tag
from prism_secure.protocols.secagg.messages import ConsistencyReply, ConsistencyRequest, Message


@dataclass(frozen=True, repr=False)
class ConsistencyState(HoldingShares):
    """Masked input sent; the survivor list is to come."""

    NAME, KIND, REQUEST = "consistency", 4, ConsistencyRequest

    def handle(self, info: RoundInfo, message: Message) -> Step:
        survivors = list(cast(ConsistencyRequest, message).survivors)
        me = info.client_id
        check_survivors(survivors, me, self.roster)
        need(len(survivors), "masked inputs reached the server", info.params, self.NAME)
        tags = {}
        for peer in sorted(set(survivors) & set(self.held) - {me}):
            key = kdf.derive(
                self.share_secrets[peer], b"consistency", self.session, info.round_index, me, peer
            )
            tags[peer] = survivor_tag(key, self.session, survivors)
        state = UnmaskState(
            session=self.session,
            roster=self.roster,
            share_secrets=self.share_secrets,
            held=self.held,
            survivors=tuple(survivors),
        )
        reply = ConsistencyReply(
            sender=me, round=info.round_index, session_id=self.session, tags=tags
        )
        return Step(state, reply)

    def to_record(self, header: dict[str, Any], info: RoundInfo) -> HeldRecord:
        return held_record(header, self, survivors=[])

    @classmethod
    def from_record(cls, record: HeldRecord, info: RoundInfo) -> ConsistencyState:
        if record.survivors:
            raise StateError("survivors", "no survivor list is known before the consistency round")
        return cls(**held_fields(record, info.client_id, info.params))
