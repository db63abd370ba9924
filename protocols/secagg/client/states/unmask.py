"""Waiting for UnmaskRequest: check the lists and the peers' tags, then release one share each.

The request must agree with the consistency round (:func:`~prism_secure.protocols.secagg.client.
checks.check_unmask_request`): survivors get their seed share released, dropped clients their
mask-key share, never both for one client, never our own key share. Every peer's tag must MAC the
survivor list we saw, so a server that showed peers another list is caught before anything is
released. The released shares are the last secret: the client then holds none.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any, cast

from prism_secure.protocols.errors import InconsistentSurvivorsError, StateError
from prism_secure.protocols.secagg.client.checks import check_unmask_request
from prism_secure.protocols.secagg.client.records import HeldRecord, held_fields, held_record
from prism_secure.protocols.secagg.client.states.base import HoldingShares, RoundInfo, Step, need
from prism_secure.protocols.secagg.client.states.completed import CompletedState
from prism_secure.protocols.secagg.crypto import kdf, shamir
from prism_secure.protocols.secagg.masking import survivor_tag
from prism_secure.protocols.secagg.messages import Message, UnmaskReply, UnmaskRequest


@dataclass(frozen=True, repr=False)
class UnmaskState(HoldingShares):
    """Survivor list confirmed; the request for shares is to come."""

    NAME, KIND, REQUEST = "unmask", 5, UnmaskRequest
    survivors: tuple[int, ...]  # the list of the consistency round, as this client accepted it

    def handle(self, info: RoundInfo, message: Message) -> Step:
        msg = cast(UnmaskRequest, message)
        me = info.client_id
        check_unmask_request(msg, me, set(self.held), set(self.survivors))
        survivors = list(self.survivors)
        for peer, tag in msg.tags.items():
            key = kdf.derive(
                self.share_secrets[peer], b"consistency", self.session, info.round_index, peer, me
            )
            if not hmac.compare_digest(tag, survivor_tag(key, self.session, survivors)):
                raise InconsistentSurvivorsError(
                    f"tags[{peer}]", "peer saw a different survivor list (or a forged tag)"
                )
        need(len(msg.tags) + 1, "clients confirmed the survivor list", info.params, self.NAME)
        reply = UnmaskReply(
            sender=me,
            round=info.round_index,
            session_id=self.session,
            seed_shares={i: shamir.share_to_bytes(self.held[i][0]) for i in sorted(msg.seed_for)},
            key_shares={i: shamir.share_to_bytes(self.held[i][1]) for i in sorted(msg.key_for)},
        )
        return Step(CompletedState(session=self.session), reply)

    def to_record(self, header: dict[str, Any], info: RoundInfo) -> HeldRecord:
        return held_record(header, self, survivors=list(self.survivors))

    @classmethod
    def from_record(cls, record: HeldRecord, info: RoundInfo) -> UnmaskState:
        if not record.survivors:
            raise StateError("survivors", "the unmask state needs the consistency round's list")
        fields = held_fields(record, info.client_id, info.params)
        return cls(**fields, survivors=tuple(record.survivors))
