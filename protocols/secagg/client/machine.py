"""The client side of SecAgg / SecAgg+: a sans-IO facade over one state per protocol step.

``start()`` returns the first message; ``receive(bytes)`` returns the replies to send. The client
never touches a socket and never trusts the server: every request is checked against what this
client saw earlier in the round, and a request an honest server would not make raises a
:class:`ProtocolViolation` subclass and aborts the client before anything more is released.

The states live in :mod:`prism_secure.protocols.secagg.client.states`, one module each:
``advertise`` -> ``share_keys`` -> ``masked_input`` -> ``consistency`` -> ``unmask`` ->
``completed``, or ``aborted`` from anywhere. In both end states the client holds no secret of
the round. A client that aborts on its own (a refused message, too few peers) has a
``ClientAbort`` for the server: :meth:`SecAggClient.abort_message`, also attached to the raised
error as ``abort_message``. :meth:`SecAggClient.export_state` and :meth:`SecAggClient.from_state`
carry a client between processes (the saved state is secret: see
:mod:`prism_secure.protocols.secagg.client.snapshot`).
"""

from __future__ import annotations

import numpy as np

from prism_secure.protocols.errors import (
    AbortedError,
    OutOfOrderError,
    ProtocolViolation,
    ReplayError,
)
from prism_secure.protocols.secagg.client.own_keys import OwnKeys
from prism_secure.protocols.secagg.client.snapshot import export_state, restore_state
from prism_secure.protocols.secagg.client.states.aborted import AbortCause, AbortedState
from prism_secure.protocols.secagg.client.states.advertise import AdvertiseKeysState
from prism_secure.protocols.secagg.client.states.base import ClientState, RoundInfo
from prism_secure.protocols.secagg.client.states.completed import CompletedState
from prism_secure.protocols.secagg.messages import Abort, ClientAbort, decode, encode
from prism_secure.protocols.secagg.params import SessionParams
from prism_secure.protocols.secagg.vectors import check_input

_REASON_CHARS = 1000


class SecAggClient:
    """One client's part in one round.

    ``vector`` holds integers in ``[0, 2^bits)``; ``model_digest`` is the digest of the global
    model this client received this round (it is bound into the session id).
    """

    def __init__(
        self,
        client_id: int,
        vector: np.ndarray,
        params: SessionParams,
        *,
        round_index: int,
        model_digest: bytes,
    ) -> None:
        client_id = int(client_id)
        if not 0 <= client_id < 2**32:
            raise ValueError(f"client id must lie in [0, 2^32), got {client_id}")
        info = RoundInfo(client_id, params, int(round_index), bytes(model_digest))
        vector = check_input(vector, params.bits, params.length)
        self._setup(info, AdvertiseKeysState(vector, OwnKeys.fresh()))

    def _setup(self, info: RoundInfo, state: ClientState) -> None:
        self._info = info
        self._state = state
        self.id, self.params = info.client_id, info.params
        self.round, self.model_digest = info.round_index, info.model_digest
        self.masking_seconds = 0.0  # building the masked vector: the keystream-bound part

    # ---- public surface --------------------------------------------------------------------

    @property
    def state(self) -> str:
        """The current state's name, for logs: advertise, share, masked, consistency, unmask,
        done or aborted (:attr:`current_state` is the state itself)."""
        return self._state.NAME

    @property
    def current_state(self) -> ClientState:
        """The current state, one class per step (see ``client.states``)."""
        return self._state

    @property
    def is_completed(self) -> bool:
        return isinstance(self._state, CompletedState)

    @property
    def is_aborted(self) -> bool:
        return isinstance(self._state, AbortedState)

    @property
    def abort_reason(self) -> str | None:
        """Why this client aborted (its :class:`AbortedState`'s message), or None."""
        state = self._state
        return state.reason if isinstance(state, AbortedState) else None

    @property
    def abort_cause(self) -> AbortCause | None:
        """Which of the named causes ended the round for this client, or None."""
        state = self._state
        return state.cause if isinstance(state, AbortedState) else None

    @property
    def session_id(self) -> bytes:
        return self._state.session

    @property
    def holds_secrets(self) -> bool:
        """Whether any secret of this round is still in memory (False once done or aborted)."""
        return self._state.holds_secrets

    def start(self) -> bytes:
        """The AdvertiseKeys message: our two fresh public keys and the seed commitment."""
        if not isinstance(self._state, AdvertiseKeysState):
            raise OutOfOrderError("start() may be called once, before any message")
        step = self._state.start(self._info)
        self._state = step.state
        return encode(step.reply)

    def receive(self, data: bytes) -> list[bytes]:
        """Handle one server message; return what to send back (zero or one message)."""
        state = self._state
        state.check_open()
        message = decode(data, max_size=state.max_message_size(self._info))
        if isinstance(message, Abort):
            self._on_server_abort(message)
        state.check_order(message, self._info.round_index)  # these errors keep the state
        try:
            state.check_session(message)
            step = state.handle(self._info, message)
        except (ProtocolViolation, AbortedError) as exc:
            self._state = AbortedState.by_client(exc, state.session)
            exc.abort_message = self.abort_message()
            raise
        self._state = step.state
        if step.masking_seconds is not None:
            self.masking_seconds = step.masking_seconds
        return [encode(step.reply)]

    def abort_message(self) -> bytes | None:
        """The ``ClientAbort`` to send the server after this client refused a message, else None."""
        state = self._state
        if not isinstance(state, AbortedState) or not state.own:
            return None
        reason = state.reason[:_REASON_CHARS]
        return encode(ClientAbort(sender=self.id, round=self.round, reason=reason))

    def export_state(self) -> bytes:
        """This client as bytes, for :meth:`from_state` in another process.

        **As secret as the client's keys**: it may hold the private keys, the self-mask seed,
        the input, pairwise secrets and held shares. Keep it on the client; never send or log it.
        Timings (``masking_seconds``) are not saved.
        """
        return export_state(self._info, self._state)

    @classmethod
    def from_state(cls, data: bytes) -> SecAggClient:
        """The client :meth:`export_state` saved, in the same state; :class:`StateError` if
        ``data`` is corrupt, truncated, of another version or inconsistent."""
        info, state = restore_state(data)
        client = cls.__new__(cls)
        client._setup(info, state)
        return client

    # ---- internals -----------------------------------------------------------------------------

    def _on_server_abort(self, message: Abort) -> None:
        if message.round != self.round:
            raise ReplayError(f"abort for round {message.round}, we are in {self.round}")
        phase = self._state.NAME
        self._state = AbortedState.by_server(message.reason, self._state.session)
        raise AbortedError(message.reason, phase=phase)


__all__ = ["SecAggClient"]
