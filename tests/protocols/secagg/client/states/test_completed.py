"""The completed state: the shares are released, no secret is left, every message is a replay."""

from __future__ import annotations

import pytest

from prism_secure.protocols.errors import ReplayError
from prism_secure.protocols.secagg.client import SecAggClient
from prism_secure.protocols.secagg.client.states.completed import CompletedState
from prism_secure.protocols.secagg.messages import Abort, encode


def test_completed_refuses_every_message_before_decoding_it(lab) -> None:
    data = lab.reach(4)
    lab.deliver(data)
    client = lab.victim
    assert isinstance(client.current_state, CompletedState) and client.is_completed
    assert client.state == "done" and not client.holds_secrets
    assert client.abort_message() is None and client.abort_reason is None
    for message in (data, b"", b"garbage", encode(Abort(round=lab.ROUND, reason="late"))):
        with pytest.raises(ReplayError, match="complete"):
            client.receive(message)
    assert client.state == "done"
    lab.next_for_victim()  # the round still completes with the victim's shares
    assert lab.server.result().survivors == list(range(lab.N))


def test_completed_state_survives_export(lab) -> None:
    lab.deliver(lab.reach(4))
    restored = SecAggClient.from_state(lab.victim.export_state())
    assert restored.state == "done" and restored.session_id == lab.victim.session_id
    with pytest.raises(ReplayError):
        restored.receive(b"")
