"""The share-keys state: the roster and the session id are checked before anything is dealt.

Each test feeds the state one bad ShareKeysRequest (or another message it can receive)."""

from __future__ import annotations

import os

import pytest

from prism_secure.protocols.errors import (
    AbortedError,
    OutOfOrderError,
    ReplayError,
    RosterError,
    SessionMismatchError,
)
from prism_secure.protocols.secagg.client.states.share_keys import ShareKeysState
from prism_secure.protocols.secagg.messages import (
    ConsistencyRequest,
    MaskedInputReply,
    RosterEntry,
    decode,
    encode,
)


def test_bad_bytes_and_misordered_messages_leave_the_state(lab) -> None:
    data = lab.reach(1)
    assert isinstance(lab.victim.current_state, ShareKeysState)
    lab.check_bad_bytes_and_order(data)
    lab.deliver(data)
    assert lab.victim.state == "masked"


def test_server_abort(lab) -> None:
    lab.reach(1)
    lab.check_server_abort("share")


def test_wrong_session_id_refused(lab) -> None:
    lab.refuses(lab.altered(lab.reach(1), session_id=os.urandom(32)), SessionMismatchError)


def test_different_model_to_one_client_is_caught(make_lab) -> None:
    lab = make_lab(victim_digest=os.urandom(32))  # the server sent the victim another model
    lab.refuses(lab.reach(1), SessionMismatchError)


def test_altered_own_keys_refused(lab) -> None:
    data = lab.reach(1)
    msg = decode(data, max_size=1 << 24)
    roster = [
        RosterEntry(
            client=e.client,
            share_key=os.urandom(32),
            mask_key=e.mask_key,
            seed_commitment=e.seed_commitment,
        )
        if e.client == lab.VICTIM
        else e
        for e in msg.roster
    ]
    lab.refuses(lab.altered(data, roster=roster), RosterError)


def test_altered_own_seed_commitment_refused(lab) -> None:
    data = lab.reach(1)
    roster = [
        e.model_copy(update={"seed_commitment": os.urandom(32)}) if e.client == lab.VICTIM else e
        for e in decode(data, max_size=1 << 24).roster
    ]
    lab.refuses(lab.altered(data, roster=roster), RosterError)


def test_sybil_duplicate_key_refused(lab) -> None:
    data = lab.reach(1)
    msg = decode(data, max_size=1 << 24)
    clone = RosterEntry(
        client=99,
        share_key=msg.roster[1].share_key,
        mask_key=os.urandom(32),
        seed_commitment=os.urandom(32),
    )
    lab.refuses(lab.altered(data, roster=[*msg.roster, clone]), RosterError)


def test_roster_below_threshold_aborts(lab) -> None:
    data = lab.reach(1)
    msg = decode(data, max_size=1 << 24)
    lab.refuses(
        lab.altered(data, roster=[e for e in msg.roster if e.client < lab.T - 1]), AbortedError
    )


def test_message_of_another_round_refused(lab) -> None:
    with pytest.raises(ReplayError):
        lab.victim.receive(lab.altered(lab.reach(1), round=6))


def test_out_of_order_message_refused(lab) -> None:
    data = lab.reach(1)
    early = encode(ConsistencyRequest(round=7, session_id=bytes(32), survivors=[0, 1, 2]))
    with pytest.raises(OutOfOrderError):
        lab.victim.receive(early)
    assert lab.victim.state == "share"
    lab.deliver(data)  # the genuine message still works
    assert lab.victim.state == "masked"


def test_client_message_sent_to_client_refused(lab) -> None:
    lab.reach(1)
    bogus = encode(MaskedInputReply(sender=1, round=7, session_id=bytes(32), vector=b"x"))
    with pytest.raises(OutOfOrderError):
        lab.victim.receive(bogus)
