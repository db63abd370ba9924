"""The round is over for this client: its shares are released and it holds no secret.

Every further message is refused as a replay, before it is even decoded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prism_secure.protocols.errors import ReplayError, StateError
from prism_secure.protocols.secagg.client.records import EndRecord
from prism_secure.protocols.secagg.client.states.base import Ended, RoundInfo


@dataclass(frozen=True, repr=False)
class CompletedState(Ended):
    """Done: only the (public) session id is kept."""

    NAME, KIND = "done", 6

    def check_open(self) -> None:
        raise ReplayError("the round is complete; nothing more is accepted")

    def to_record(self, header: dict[str, Any], info: RoundInfo) -> EndRecord:
        return EndRecord(**header, session=self.session, cause="", error="", reason="")

    @classmethod
    def from_record(cls, record: EndRecord, info: RoundInfo) -> CompletedState:
        if len(record.session) != 32 or record.cause or record.error or record.reason:
            raise StateError("session", "a completed round has a session id and no abort")
        return cls(session=record.session)
