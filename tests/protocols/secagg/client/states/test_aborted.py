"""The aborted state: why it stopped (cause, error, reason), no secret, nothing more accepted.

A client aborts on the server's Abort, on a message an honest server would not send, and when
too few peers are left; in the last two cases it owes the server a ClientAbort.
"""

from __future__ import annotations

import os

import pytest

from prism_secure.protocols.errors import AbortedError, ReplayError, SessionMismatchError
from prism_secure.protocols.secagg.client import AbortCause, SecAggClient
from prism_secure.protocols.secagg.client.states.aborted import AbortedState
from prism_secure.protocols.secagg.messages import Abort, ClientAbort, decode, encode


def test_refusal_is_a_named_cause_with_a_client_abort(lab) -> None:
    data = lab.reach(2)
    lab.refuses(lab.altered(data, session_id=os.urandom(32)), SessionMismatchError)
    state = lab.victim.current_state
    assert isinstance(state, AbortedState) and lab.victim.is_aborted
    assert (state.cause, state.error) == (AbortCause.REFUSED, "SessionMismatchError")
    assert "session_id" in state.reason and lab.victim.abort_reason == state.reason
    notice = decode(lab.victim.abort_message(), max_size=4096)
    assert isinstance(notice, ClientAbort) and (notice.sender, notice.round) == (0, lab.ROUND)
    assert notice.reason == state.reason[:1000]


def test_too_few_peers_is_its_own_cause(lab) -> None:
    data = lab.reach(4)
    lab.refuses(lab.altered(data, tags={}), AbortedError)
    assert lab.victim.abort_cause is AbortCause.BELOW_THRESHOLD
    assert lab.victim.current_state.error == "AbortedError"
    assert lab.victim.abort_message() is not None


def test_server_abort_is_its_own_cause_and_owes_nothing(lab) -> None:
    lab.reach(3)
    lab.check_server_abort("consistency")
    assert lab.victim.abort_reason == "server aborted: too few"


def test_aborted_refuses_every_message_and_keeps_its_cause(lab) -> None:
    data = lab.reach(1)
    lab.refuses(lab.altered(data, session_id=os.urandom(32)), SessionMismatchError)
    before = lab.victim.export_state()
    for message in (data, b"", encode(Abort(round=lab.ROUND, reason="again"))):
        with pytest.raises(AbortedError, match="already aborted"):
            lab.victim.receive(message)
    assert lab.victim.export_state() == before  # the first cause stands


def test_abort_of_another_round_is_a_replay(lab) -> None:
    lab.reach(1)
    with pytest.raises(ReplayError):
        lab.victim.receive(encode(Abort(round=lab.ROUND - 1, reason="old")))
    assert lab.victim.state == "share"


def test_aborted_state_survives_export(lab) -> None:
    lab.refuses(lab.altered(lab.reach(2), session_id=os.urandom(32)), SessionMismatchError)
    restored = SecAggClient.from_state(lab.victim.export_state())
    assert restored.current_state == lab.victim.current_state
    assert restored.abort_message() == lab.victim.abort_message()
