"""The round stopped for this client: why, as a named cause, a typed error and a message.

A client aborts when the server sends ``Abort`` (:attr:`AbortCause.SERVER`), when it refuses a
message an honest server would not send (:attr:`AbortCause.REFUSED`, ``error`` names the
:class:`~prism_secure.protocols.errors.ProtocolViolation` subclass), or when too few peers are
left to go on (:attr:`AbortCause.BELOW_THRESHOLD`). It holds no secret any more; in the last two
cases it has a ``ClientAbort`` for the server. Every further message is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from prism_secure.protocols.errors import AbortedError, SecAggError, StateError
from prism_secure.protocols.secagg.client.records import EndRecord
from prism_secure.protocols.secagg.client.states.base import Ended, RoundInfo


class AbortCause(StrEnum):
    """Why a client aborted."""

    SERVER = "server"  # the server sent Abort
    REFUSED = "refused"  # the client refused a message (a ProtocolViolation)
    BELOW_THRESHOLD = "below-threshold"  # fewer than t peers left at some step


@dataclass(frozen=True, repr=False)
class AbortedState(Ended):
    """Aborted: the cause, the error's class name, the reason, and the session id if joined."""

    NAME, KIND = "aborted", 7
    cause: AbortCause
    error: str
    reason: str

    @classmethod
    def by_server(cls, reason: str, session: bytes) -> AbortedState:
        reason = f"server aborted: {reason}"
        return cls(session=session, cause=AbortCause.SERVER, error="Abort", reason=reason)

    @classmethod
    def by_client(cls, exc: SecAggError, session: bytes) -> AbortedState:
        """This client's own abort on ``exc`` (a refusal, or too few peers)."""
        cause = AbortCause.BELOW_THRESHOLD if isinstance(exc, AbortedError) else AbortCause.REFUSED
        return cls(session=session, cause=cause, error=type(exc).__name__, reason=str(exc))

    @property
    def own(self) -> bool:
        """Whether this client aborted on its own (then it owes the server a ClientAbort)."""
        return self.cause is not AbortCause.SERVER

    def check_open(self) -> None:
        raise AbortedError(f"client already aborted: {self.reason}")

    def to_record(self, header: dict[str, Any], info: RoundInfo) -> EndRecord:
        return EndRecord(
            **header,
            session=self.session,
            cause=self.cause.value,
            error=self.error,
            reason=self.reason,
        )

    @classmethod
    def from_record(cls, record: EndRecord, info: RoundInfo) -> AbortedState:
        try:
            cause = AbortCause(record.cause)
        except ValueError:
            raise StateError("cause", f"unknown abort cause {record.cause!r}") from None
        if len(record.session) not in (0, 32) or not record.error or not record.reason:
            raise StateError("reason", "an abort has an error, a reason, and a session id or none")
        return cls(session=record.session, cause=cause, error=record.error, reason=record.reason)
