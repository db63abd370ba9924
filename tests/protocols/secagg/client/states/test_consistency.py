"""The consistency state: the survivor list is checked before it is MACed for the peers.

Each test feeds the state one bad ConsistencyRequest (or another message it can receive)."""

from __future__ import annotations

import os

import pytest

from prism_secure.protocols.errors import (
    AbortedError,
    InconsistentSurvivorsError,
    SessionMismatchError,
    UnexpectedPeerError,
)
from prism_secure.protocols.secagg.client.states.consistency import ConsistencyState


def test_bad_bytes_and_misordered_messages_leave_the_state(lab) -> None:
    data = lab.reach(3)
    assert isinstance(lab.victim.current_state, ConsistencyState)
    lab.check_bad_bytes_and_order(data)
    lab.deliver(data)
    assert lab.victim.state == "unmask"


def test_server_abort(lab) -> None:
    lab.reach(3)
    lab.check_server_abort("consistency")


def test_wrong_session_id_later_refused(lab) -> None:
    lab.refuses(lab.altered(lab.reach(3), session_id=os.urandom(32)), SessionMismatchError)


def test_consistency_list_without_us_refused(lab) -> None:
    data = lab.reach(3)
    lab.refuses(lab.altered(data, survivors=[1, 2, 3, 4]), InconsistentSurvivorsError)


@pytest.mark.parametrize(
    ("survivors", "error"),
    [
        ([0, 2, 1, 3, 4], InconsistentSurvivorsError),  # unsorted
        ([0, 0, 1, 2, 3], InconsistentSurvivorsError),  # a duplicate
        ([0, 1, 2, 3, 4, 9], UnexpectedPeerError),  # never advertised keys
        ([0, 1], AbortedError),  # below the threshold
    ],
    ids=["unsorted", "duplicate", "unknown", "too-few"],
)
def test_bad_survivor_lists_refused(lab, survivors: list[int], error: type[Exception]) -> None:
    lab.refuses(lab.altered(lab.reach(3), survivors=survivors), error)
