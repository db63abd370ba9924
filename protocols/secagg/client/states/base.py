"""What every client state shares: the round's public facts, one step's outcome, the order rule.

A state is an immutable value: it handles the one server message it waits for (``REQUEST``) and
returns a :class:`Step`, the next state and the reply to send. The client facade
(:class:`~prism_secure.protocols.secagg.client.machine.SecAggClient`) replaces its state only
when a step succeeds, so a refused message either leaves the state as it was or ends in
:class:`~prism_secure.protocols.secagg.client.states.aborted.AbortedState`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from pydantic import BaseModel

from prism_secure.protocols.errors import (
    AbortedError,
    OutOfOrderError,
    ReplayError,
    SessionMismatchError,
)
from prism_secure.protocols.secagg.client.records import EndRecord, HeldRecord
from prism_secure.protocols.secagg.messages import Message
from prism_secure.protocols.secagg.params import SessionParams


@dataclass(frozen=True)
class RoundInfo:
    """What a client knows before any message and never changes in the round (all public)."""

    client_id: int
    params: SessionParams
    round_index: int
    model_digest: bytes


@dataclass(frozen=True)
class Step:
    """One handled message: the state to move to, the reply, and how long masking took."""

    state: ClientState
    reply: Message
    masking_seconds: float | None = None


class ClientState(ABC):
    """One state of the client. ``NAME`` is for logs; ``KIND`` tags it in a saved state."""

    NAME: ClassVar[str]
    KIND: ClassVar[int]
    RECORD: ClassVar[type[BaseModel]]  # its saved form (see client.records)
    REQUEST: ClassVar[type[Message] | None] = None  # the one server message handled here
    session: bytes  # the session id this client joined (empty before ShareKeys)

    @property
    @abstractmethod
    def holds_secrets(self) -> bool:
        """Whether a secret of the round is still held in this state."""

    def check_open(self) -> None:
        """Refuse any message before decoding it (the end states do; the others accept)."""
        return None

    def max_message_size(self, info: RoundInfo) -> int:
        """The largest server message worth decoding in this state."""
        return 4096

    def check_order(self, message: Message, round_index: int) -> None:
        """A server message of this round, and the one this state waits for, else a typed error.

        A request of an earlier step is a replay, of a later one out of order; neither changes
        the state, so a duplicated packet cannot kill a round.
        """
        if not message.FROM_SERVER:
            raise OutOfOrderError(f"{type(message).__name__} is a client message")
        if message.round != round_index:
            raise ReplayError(f"message of round {message.round}; this is round {round_index}")
        expected = self.REQUEST
        if expected is None:
            raise OutOfOrderError("call start() before receiving")
        if type(message) is expected:
            return
        if message.PHASE < expected.PHASE:
            raise ReplayError(f"{type(message).__name__} replayed in state {self.NAME!r}")
        raise OutOfOrderError(f"{type(message).__name__} arrived in state {self.NAME!r}")

    def check_session(self, message: Message) -> None:
        """Once joined, every request must carry our session id (else the client aborts)."""
        if self.session and getattr(message, "session_id", None) != self.session:
            raise SessionMismatchError("session_id", "differs from the session we joined")

    def handle(self, info: RoundInfo, message: Message) -> Step:
        """Answer ``message`` (already checked by :meth:`check_order`) and move on."""
        raise OutOfOrderError(f"state {self.NAME!r} handles no message")  # pragma: no cover

    @abstractmethod
    def to_record(self, header: dict[str, Any], info: RoundInfo) -> BaseModel:
        """This state's saved form, after the ``header`` fields."""

    @classmethod
    @abstractmethod
    def from_record(cls, record: Any, info: RoundInfo) -> Self:
        """The state a record describes, or :class:`StateError` if no round could produce it."""

    def __repr__(self) -> str:  # never print a secret
        return f"<{type(self).__name__}>"


@dataclass(frozen=True, repr=False)
class InSession(ClientState):
    """A state after ShareKeys: the session and roster are fixed; ``share_secrets`` holds the
    X25519 secret agreed with each peer (the consistency MACs are keyed from it)."""

    session: bytes
    roster: tuple[int, ...]
    share_secrets: dict[int, bytes]

    @property
    def holds_secrets(self) -> bool:
        return True

    def max_message_size(self, info: RoundInfo) -> int:
        return 4096 + 256 * len(self.roster)


@dataclass(frozen=True, repr=False)
class HoldingShares(InSession):
    """After the masked input: ``held`` maps each dealer (this client included) to the seed
    share and the key share it dealt this client."""

    RECORD = HeldRecord
    held: dict[int, tuple[int, int]]


@dataclass(frozen=True, repr=False)
class Ended(ClientState):
    """An end state: no secret is left, only the (public) session id, if one was joined."""

    RECORD = EndRecord
    session: bytes

    @property
    def holds_secrets(self) -> bool:
        return False


def need(count: int, what: str, params: SessionParams, phase: str) -> None:
    """Abort (:class:`AbortedError`) when fewer than t parties are left for this step."""
    if count < params.threshold:
        raise AbortedError(f"only {count} {what}, threshold is {params.threshold}", phase=phase)
