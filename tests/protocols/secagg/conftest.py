"""A lab for the client's states: one honest round, in which the test plays the server to client 0.

The lab runs one honest round for clients 1..n-1 while the test plays the server towards client 0:
it takes the honest server's message for client 0 (``reach``), alters it, and checks the refusal.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from prism_secure.protocols.errors import (
    AbortedError,
    MessageError,
    OutOfOrderError,
    ReplayError,
)
from prism_secure.protocols.secagg.client import AbortCause, SecAggClient
from prism_secure.protocols.secagg.messages import (
    Abort,
    ConsistencyReply,
    ConsistencyRequest,
    MaskedInputRequest,
    Message,
    ShareKeysRequest,
    UnmaskRequest,
    decode,
    encode,
)
from prism_secure.protocols.secagg.params import SessionParams
from prism_secure.protocols.secagg.server import SecAggServer

DIGEST = os.urandom(32)
# A well-formed request of each step, for the states that wait for another one.
REQUESTS: list[Message] = [
    ShareKeysRequest(round=7, session_id=bytes(32), roster=[]),
    MaskedInputRequest(round=7, session_id=bytes(32), ciphertexts={}, share_digests={}),
    ConsistencyRequest(round=7, session_id=bytes(32), survivors=[0, 1, 2]),
    UnmaskRequest(
        round=7, session_id=bytes(32), survivors=[], dropped=[], seed_for=[], key_for=[], tags={}
    ),
]


class Lab:
    """An honest round, paused whenever the server has a message for the victim."""

    N, T, D, ROUND, VICTIM = 5, 3, 24, 7, 0
    PARAMS = SessionParams(threshold=T, bits=3, length=D, clients=N)
    DIGEST = DIGEST

    def __init__(self, victim_digest: bytes = DIGEST) -> None:
        rng = np.random.default_rng(0)
        self.inputs = {c: rng.integers(0, 2, self.D, dtype=np.uint8) for c in range(self.N)}
        self.clients = {
            c: SecAggClient(
                c,
                self.inputs[c],
                self.PARAMS,
                round_index=self.ROUND,
                model_digest=victim_digest if c == self.VICTIM else DIGEST,
            )
            for c in range(self.N)
        }
        self.server = SecAggServer(
            self.PARAMS, round_index=self.ROUND, model_digest=DIGEST, clients=list(range(self.N))
        )
        self.sent: list[bytes] = []  # every honest message the victim was sent, in order
        for c, client in self.clients.items():
            self.server.receive(c, client.start())

    def next_for_victim(self) -> bytes:
        """Advance the server one phase; deliver to everyone but the victim; return its message."""
        for_victim = b""
        for cid, data in self.server.advance():
            if cid == self.VICTIM:
                for_victim = data
                continue
            for reply in self.clients[cid].receive(data):
                self.server.receive(cid, reply)
        self.sent.append(for_victim)
        return for_victim

    def deliver(self, data: bytes) -> None:
        for reply in self.victim.receive(data):
            self.server.receive(self.VICTIM, reply)

    def reach(self, phase: int) -> bytes:
        """The honest message of ``phase`` (1 share keys .. 4 unmask) for the victim."""
        data = self.next_for_victim()
        for _ in range(phase - 1):
            self.deliver(data)
            data = self.next_for_victim()
        return data

    def finish(self) -> np.ndarray:
        """Deliver the victim's last message and close the round: the exact sum."""
        self.deliver(self.sent[-1])
        self.next_for_victim()
        total = self.server.result().total
        expected = sum(v.astype(np.int64) for v in self.inputs.values())
        np.testing.assert_array_equal(total, expected)
        return total

    @property
    def victim(self) -> SecAggClient:
        return self.clients[self.VICTIM]

    @staticmethod
    def altered(data: bytes, **changes: object) -> bytes:
        return encode(decode(data, max_size=1 << 24).model_copy(update=changes))

    def refuses(self, data: bytes, error: type[Exception]) -> None:
        """The victim refuses ``data`` with ``error``, aborts, and owes the server a ClientAbort."""
        with pytest.raises(error) as info:
            self.victim.receive(data)
        assert self.victim.state == "aborted" and not self.victim.holds_secrets
        assert self.victim.abort_cause in (AbortCause.REFUSED, AbortCause.BELOW_THRESHOLD)
        assert info.value.abort_message == self.victim.abort_message() is not None  # type: ignore[attr-defined]
        with pytest.raises(AbortedError):  # and nothing more leaves it afterwards
            self.victim.receive(data)

    def keeps_state(self, data: bytes, error: type[Exception]) -> None:
        """The victim refuses ``data`` with ``error`` and stays exactly as it was."""
        client = self.victim
        before = (client.state, client.session_id, client.holds_secrets, client.export_state())
        with pytest.raises(error):
            client.receive(data)
        assert (client.state, client.session_id, client.holds_secrets) == before[:3]
        assert client.export_state() == before[3], "a refused message changed the state"

    def check_bad_bytes_and_order(self, data: bytes) -> None:
        """Every message the victim's state must drop without a change: malformed bytes, a
        client message, another round's message, a replay of an earlier step, a later step."""
        for cut in (0, 1, 2, len(data) // 2, len(data) - 1):
            self.keeps_state(data[:cut], MessageError)
        self.keeps_state(data + b"\x00", MessageError)
        self.keeps_state(data + bytes(1 << 21), MessageError)  # oversized for every state
        self.keeps_state(bytes([1]) + data[1:], MessageError)  # wire version 1
        self.keeps_state(data[:1] + bytes([99]) + data[2:], MessageError)  # no such type
        reply = ConsistencyReply(sender=1, round=7, session_id=bytes(32), tags={})
        self.keeps_state(encode(reply), OutOfOrderError)
        self.keeps_state(self.altered(data, round=self.ROUND - 1), ReplayError)
        self.keeps_state(encode(Abort(round=self.ROUND + 1, reason="old")), ReplayError)
        waiting = type(decode(data, max_size=1 << 24))
        for earlier in self.sent[:-1]:
            self.keeps_state(earlier, ReplayError)
        for later in REQUESTS:
            if later.PHASE > waiting.PHASE:
                self.keeps_state(encode(later), OutOfOrderError)

    def check_server_abort(self, phase: str) -> None:
        """An Abort from the server ends the state, names it, and owes the server nothing."""
        with pytest.raises(AbortedError) as info:
            self.victim.receive(encode(Abort(round=self.ROUND, reason="too few")))
        assert info.value.phase == phase and info.value.reason == "too few"
        assert self.victim.state == "aborted" and self.victim.abort_cause is AbortCause.SERVER
        assert self.victim.abort_message() is None and not self.victim.holds_secrets


@pytest.fixture
def lab() -> Lab:
    return Lab()


@pytest.fixture(scope="session")
def make_lab() -> type[Lab]:
    return Lab
