"""The unmask state: the lists and the peers' tags are checked before one share each is released.

Each test feeds the state one bad UnmaskRequest (or another message it can receive)."""

from __future__ import annotations

import os

from prism_secure.protocols.errors import (
    AbortedError,
    BothSharesRequestedError,
    DroppedAndAliveError,
    InconsistentSurvivorsError,
    SelfDroppedError,
    SessionMismatchError,
    UnexpectedPeerError,
)
from prism_secure.protocols.secagg.client.states.unmask import UnmaskState
from prism_secure.protocols.secagg.messages import UnmaskRequest, decode, encode


def test_bad_bytes_and_misordered_messages_leave_the_state(lab) -> None:
    data = lab.reach(4)
    assert isinstance(lab.victim.current_state, UnmaskState)
    lab.check_bad_bytes_and_order(data)
    lab.deliver(data)
    assert lab.victim.state == "done"


def test_server_abort(lab) -> None:
    lab.reach(4)
    lab.check_server_abort("unmask")


def test_wrong_session_id_refused(lab) -> None:
    lab.refuses(lab.altered(lab.reach(4), session_id=os.urandom(32)), SessionMismatchError)


def test_both_shares_of_one_peer_refused(lab) -> None:
    data = lab.reach(4)
    msg = decode(data, max_size=1 << 24)
    lab.refuses(lab.altered(data, key_for=[msg.seed_for[1]]), BothSharesRequestedError)


def test_survivor_list_contradicting_consistency_refused(lab) -> None:
    data = lab.reach(4)
    msg = decode(data, max_size=1 << 24)
    victim_of_lie = msg.survivors[-1]  # survived, but the server now calls it dropped
    survivors = [c for c in msg.survivors if c != victim_of_lie]
    lab.refuses(
        lab.altered(
            data,
            survivors=survivors,
            dropped=[victim_of_lie],
            seed_for=survivors,
            key_for=[victim_of_lie],
        ),
        InconsistentSurvivorsError,
    )


def test_dropped_and_alive_refused(lab) -> None:
    data = lab.reach(4)
    msg = decode(data, max_size=1 << 24)
    lab.refuses(lab.altered(data, dropped=[msg.survivors[-1]]), DroppedAndAliveError)


def test_own_id_in_dropped_refused(lab) -> None:
    data = lab.reach(4)
    msg = decode(data, max_size=1 << 24)
    survivors = [c for c in msg.survivors if c != lab.VICTIM]
    lab.refuses(
        lab.altered(
            data,
            survivors=survivors,
            dropped=[lab.VICTIM],
            seed_for=survivors,
            key_for=[lab.VICTIM],
        ),
        SelfDroppedError,
    )


def test_forged_consistency_tag_refused(lab) -> None:
    data = lab.reach(4)
    tags = dict(decode(data, max_size=1 << 24).tags)
    peer = next(iter(tags))
    tags[peer] = bytes(16)
    lab.refuses(lab.altered(data, tags=tags), InconsistentSurvivorsError)


def test_tag_from_a_peer_outside_the_survivors_refused(lab) -> None:
    data = lab.reach(4)
    tags = dict(decode(data, max_size=1 << 24).tags)
    tags[lab.VICTIM] = next(iter(tags.values()))  # our own tag: no peer computes it
    lab.refuses(lab.altered(data, tags=tags), UnexpectedPeerError)


def test_different_survivor_lists_to_different_clients_caught(lab) -> None:
    """The server tells the victim that client 4 never arrived, then asks for 4's mask key.

    Had the victim complied, the server could unmask client 4's input. The victim's own lists are
    self-consistent, but its peers' tags cover the true list, so the victim refuses.
    """
    data = lab.reach(3)
    lie = [0, 1, 2, 3]
    lab.victim.receive(lab.altered(data, survivors=lie))  # its reply never reaches the server
    peer_tags = {c: lab.server._replies[c].tags[lab.VICTIM] for c in (1, 2, 3, 4)}
    ask = UnmaskRequest(
        round=7,
        session_id=lab.victim.session_id,
        survivors=lie,
        dropped=[4],
        seed_for=lie,
        key_for=[4],
        tags={c: peer_tags[c] for c in (1, 2, 3)},
    )
    lab.refuses(encode(ask), InconsistentSurvivorsError)


def test_too_few_confirmations_abort(lab) -> None:
    data = lab.reach(4)
    lab.refuses(lab.altered(data, tags={}), AbortedError)
