"""The server: its named phase sets, its refusals of bad replies, and sums added at phase close."""

from __future__ import annotations

import numpy as np
import pytest

from prism_secure.protocols.errors import (
    MessageError,
    ReplayError,
    UnexpectedPeerError,
    VectorLengthError,
)
from prism_secure.protocols.secagg.messages import ClientAbort, decode, encode


def test_server_rejects_wrong_length_masked_vector_and_goes_on(lab) -> None:
    data = lab.reach(2)
    (reply,) = lab.victim.receive(data)
    short = lab.altered(reply, vector=decode(reply, max_size=1 << 24).vector[:-1])
    with pytest.raises(VectorLengthError):
        lab.server.receive(lab.VICTIM, short)
    with pytest.raises(MessageError):
        lab.server.receive(lab.VICTIM, reply[:-3])
    with pytest.raises(UnexpectedPeerError):
        lab.server.receive(3, reply)  # client 3 cannot send client 0's message
    # the victim's input never arrived; the others still get their exact sum
    for _ in range(3):
        lab.next_for_victim()
    res = lab.server.result()
    assert res.survivors == [1, 2, 3, 4]
    np.testing.assert_array_equal(
        res.total, sum(lab.inputs[c].astype(np.int64) for c in res.survivors)
    )


def test_server_refuses_duplicate_reply(lab) -> None:
    data = lab.reach(2)
    (reply,) = lab.victim.receive(data)
    lab.server.receive(lab.VICTIM, reply)
    with pytest.raises(ReplayError):
        lab.server.receive(lab.VICTIM, reply)


def test_phase_sets_are_named_and_filled_when_each_phase_closes(lab) -> None:
    server = lab.server
    assert server.phase == "advertise" and not server.advertised
    lab.deliver(lab.reach(1))
    assert server.advertised == frozenset(range(lab.N)) and not server.shared
    lab.deliver(lab.next_for_victim())
    assert server.shared == frozenset(range(lab.N)) and not server.masked
    lab.deliver(lab.next_for_victim())
    assert server.masked == frozenset(range(lab.N)) and not server.confirmed
    lab.deliver(lab.next_for_victim())
    assert server.confirmed == frozenset(range(lab.N)) and server.phase == "unmask"
    lab.next_for_victim()
    assert server.phase == "done" and server.result().survivors == list(range(lab.N))


def test_checking_a_masked_input_adds_nothing_to_the_sum(lab) -> None:
    """The sum changes only when the masked phase closes: a reply withdrawn before is not in it."""
    data = lab.reach(2)
    (reply,) = lab.victim.receive(data)
    before = lab.server._sum.copy()
    lab.server.receive(lab.VICTIM, reply)
    np.testing.assert_array_equal(lab.server._sum, before)
    abort = ClientAbort(sender=lab.VICTIM, round=lab.ROUND, reason="left")
    lab.server.receive(lab.VICTIM, encode(abort))
    for _ in range(3):
        lab.next_for_victim()
    res = lab.server.result()
    assert res.survivors == [1, 2, 3, 4] and lab.server.masked == frozenset(res.survivors)
    np.testing.assert_array_equal(
        res.total, sum(lab.inputs[c].astype(np.int64) for c in res.survivors)
    )
