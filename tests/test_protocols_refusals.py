"""The client against a malicious server: every listed attack is refused with a typed error.

A lab runs one honest round for clients 1..n-1 while the test plays the server towards client 0:
it takes the honest server's message for client 0, alters it, and checks the refusal.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from prism_secure.protocols.client import SecAggClient
from prism_secure.protocols.errors import (
    AbortedError,
    BothSharesRequestedError,
    DroppedAndAliveError,
    InconsistentSurvivorsError,
    MessageError,
    OutOfOrderError,
    ReplayError,
    RosterError,
    SelfDroppedError,
    SessionMismatchError,
    ShareDecryptionError,
    UnexpectedPeerError,
    VectorLengthError,
)
from prism_secure.protocols.messages import (
    ConsistencyRequest,
    MaskedInputReply,
    RosterEntry,
    UnmaskRequest,
    decode,
    encode,
)
from prism_secure.protocols.params import SessionParams
from prism_secure.protocols.server import SecAggServer

DIGEST = os.urandom(32)
N, T, D = 5, 3, 24
PARAMS = SessionParams(threshold=T, bits=3, length=D, clients=N)
VICTIM = 0


class Lab:
    """An honest round, paused whenever the server has a message for the victim."""

    def __init__(self, victim_digest: bytes = DIGEST) -> None:
        rng = np.random.default_rng(0)
        self.inputs = {c: rng.integers(0, 2, D, dtype=np.uint8) for c in range(N)}
        self.clients = {
            c: SecAggClient(
                c,
                self.inputs[c],
                PARAMS,
                round_index=7,
                model_digest=victim_digest if c == VICTIM else DIGEST,
            )
            for c in range(N)
        }
        self.server = SecAggServer(
            PARAMS, round_index=7, model_digest=DIGEST, clients=list(range(N))
        )
        for c, client in self.clients.items():
            self.server.receive(c, client.start())

    def next_for_victim(self) -> bytes:
        """Advance the server one phase; deliver to everyone but the victim; return its message."""
        for_victim = b""
        for cid, data in self.server.advance():
            if cid == VICTIM:
                for_victim = data
                continue
            for reply in self.clients[cid].receive(data):
                self.server.receive(cid, reply)
        return for_victim

    def deliver(self, data: bytes) -> None:
        for reply in self.victim.receive(data):
            self.server.receive(VICTIM, reply)

    def reach(self, phase: int) -> bytes:
        """The honest message of ``phase`` (1 share keys .. 4 unmask) for the victim."""
        data = self.next_for_victim()
        for _ in range(phase - 1):
            self.deliver(data)
            data = self.next_for_victim()
        return data

    @property
    def victim(self) -> SecAggClient:
        return self.clients[VICTIM]


def altered(data: bytes, **changes: object) -> bytes:
    return encode(decode(data, max_size=1 << 24).model_copy(update=changes))


def refuses(lab: Lab, data: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        lab.victim.receive(data)
    assert lab.victim.state == "aborted"
    with pytest.raises(AbortedError):  # and nothing more leaves it afterwards
        lab.victim.receive(data)


def test_honest_lab_completes() -> None:
    lab = Lab()
    lab.deliver(lab.reach(4))
    lab.next_for_victim()
    total = lab.server.result().total
    np.testing.assert_array_equal(total, sum(v.astype(np.int64) for v in lab.inputs.values()))


# ---- session binding -----------------------------------------------------------------------------


def test_wrong_session_id_refused() -> None:
    lab = Lab()
    refuses(lab, altered(lab.reach(1), session_id=os.urandom(32)), SessionMismatchError)


def test_different_model_to_one_client_is_caught() -> None:
    lab = Lab(victim_digest=os.urandom(32))  # the server sent the victim another model
    refuses(lab, lab.reach(1), SessionMismatchError)


def test_wrong_session_id_later_refused() -> None:
    lab = Lab()
    refuses(lab, altered(lab.reach(3), session_id=os.urandom(32)), SessionMismatchError)


def test_altered_own_keys_refused() -> None:
    lab = Lab()
    data = lab.reach(1)
    msg = decode(data, max_size=1 << 24)
    roster = [
        RosterEntry(
            client=e.client,
            share_key=os.urandom(32),
            mask_key=e.mask_key,
            seed_commitment=e.seed_commitment,
        )
        if e.client == VICTIM
        else e
        for e in msg.roster
    ]
    refuses(lab, altered(data, roster=roster), RosterError)


def test_sybil_duplicate_key_refused() -> None:
    lab = Lab()
    data = lab.reach(1)
    msg = decode(data, max_size=1 << 24)
    clone = RosterEntry(
        client=99,
        share_key=msg.roster[1].share_key,
        mask_key=os.urandom(32),
        seed_commitment=os.urandom(32),
    )
    refuses(lab, altered(data, roster=[*msg.roster, clone]), RosterError)


def test_roster_below_threshold_aborts() -> None:
    lab = Lab()
    data = lab.reach(1)
    msg = decode(data, max_size=1 << 24)
    refuses(lab, altered(data, roster=[e for e in msg.roster if e.client < T - 1]), AbortedError)


# ---- replay and order ------------------------------------------------------------------------


def test_replayed_message_refused_without_harm() -> None:
    lab = Lab()
    first = lab.reach(1)
    lab.deliver(first)
    with pytest.raises(ReplayError):
        lab.victim.receive(first)
    assert lab.victim.state == "masked"  # a duplicate packet does not kill the round
    lab.deliver(lab.next_for_victim())
    lab.deliver(lab.next_for_victim())
    lab.deliver(lab.next_for_victim())
    lab.next_for_victim()
    assert lab.server.result().survivors == list(range(N))


def test_message_of_another_round_refused() -> None:
    lab = Lab()
    with pytest.raises(ReplayError):
        lab.victim.receive(altered(lab.reach(1), round=6))


def test_out_of_order_message_refused() -> None:
    lab = Lab()
    data = lab.reach(1)
    early = encode(ConsistencyRequest(round=7, session_id=bytes(32), survivors=[0, 1, 2]))
    with pytest.raises(OutOfOrderError):
        lab.victim.receive(early)
    assert lab.victim.state == "share"
    lab.deliver(data)  # the genuine message still works
    assert lab.victim.state == "masked"


def test_client_message_sent_to_client_refused() -> None:
    lab = Lab()
    lab.reach(1)
    bogus = encode(MaskedInputReply(sender=1, round=7, session_id=bytes(32), vector=b"x"))
    with pytest.raises(OutOfOrderError):
        lab.victim.receive(bogus)


# ---- malformed and tampered bytes ------------------------------------------------------------


def test_truncated_and_oversized_rejected_state_intact() -> None:
    lab = Lab()
    data = lab.reach(2)
    for cut in (0, 1, 2, 10, len(data) // 2, len(data) - 1):
        with pytest.raises(MessageError):
            lab.victim.receive(data[:cut])
    with pytest.raises(MessageError):
        lab.victim.receive(data + b"\x00")
    with pytest.raises(MessageError, match="oversized"):
        lab.victim.receive(data + bytes(1 << 20))
    assert lab.victim.state == "masked"
    lab.deliver(data)
    assert lab.victim.state == "consistency"


def test_tampered_ciphertext_refused() -> None:
    lab = Lab()
    data = lab.reach(2)
    cts = dict(decode(data, max_size=1 << 24).ciphertexts)
    peer = next(iter(cts))
    blob = bytearray(cts[peer])
    blob[40] ^= 1
    cts[peer] = bytes(blob)
    refuses(lab, altered(data, ciphertexts=cts), ShareDecryptionError)


def test_swapped_ciphertexts_refused() -> None:
    lab = Lab()
    data = lab.reach(2)
    cts = dict(decode(data, max_size=1 << 24).ciphertexts)
    a, b = sorted(cts)[:2]
    cts[a], cts[b] = cts[b], cts[a]
    refuses(lab, altered(data, ciphertexts=cts), ShareDecryptionError)


def test_non_neighbour_ciphertext_refused() -> None:
    lab = Lab()
    data = lab.reach(2)
    cts = dict(decode(data, max_size=1 << 24).ciphertexts)
    cts[42] = next(iter(cts.values()))
    refuses(lab, altered(data, ciphertexts=cts), UnexpectedPeerError)


# ---- consistency and unmask ------------------------------------------------------------------


def test_consistency_list_without_us_refused() -> None:
    lab = Lab()
    data = lab.reach(3)
    refuses(lab, altered(data, survivors=[1, 2, 3, 4]), InconsistentSurvivorsError)


def test_both_shares_of_one_peer_refused() -> None:
    lab = Lab()
    data = lab.reach(4)
    msg = decode(data, max_size=1 << 24)
    refuses(lab, altered(data, key_for=[msg.seed_for[1]]), BothSharesRequestedError)


def test_survivor_list_contradicting_consistency_refused() -> None:
    lab = Lab()
    data = lab.reach(4)
    msg = decode(data, max_size=1 << 24)
    victim_of_lie = msg.survivors[-1]  # survived, but the server now calls it dropped
    survivors = [c for c in msg.survivors if c != victim_of_lie]
    refuses(
        lab,
        altered(
            data,
            survivors=survivors,
            dropped=[victim_of_lie],
            seed_for=survivors,
            key_for=[victim_of_lie],
        ),
        InconsistentSurvivorsError,
    )


def test_dropped_and_alive_refused() -> None:
    lab = Lab()
    data = lab.reach(4)
    msg = decode(data, max_size=1 << 24)
    refuses(lab, altered(data, dropped=[msg.survivors[-1]]), DroppedAndAliveError)


def test_own_id_in_dropped_refused() -> None:
    lab = Lab()
    data = lab.reach(4)
    msg = decode(data, max_size=1 << 24)
    survivors = [c for c in msg.survivors if c != VICTIM]
    refuses(
        lab,
        altered(data, survivors=survivors, dropped=[VICTIM], seed_for=survivors, key_for=[VICTIM]),
        SelfDroppedError,
    )


def test_forged_consistency_tag_refused() -> None:
    lab = Lab()
    data = lab.reach(4)
    tags = dict(decode(data, max_size=1 << 24).tags)
    peer = next(iter(tags))
    tags[peer] = bytes(16)
    refuses(lab, altered(data, tags=tags), InconsistentSurvivorsError)


def test_different_survivor_lists_to_different_clients_caught() -> None:
    """The server tells the victim that client 4 never arrived, then asks for 4's mask key.

    Had the victim complied, the server could unmask client 4's input. The victim's own lists are
    self-consistent, but its peers' tags cover the true list, so the victim refuses.
    """
    lab = Lab()
    data = lab.reach(3)
    lie = [0, 1, 2, 3]
    lab.victim.receive(altered(data, survivors=lie))  # its reply never reaches the server
    peer_tags = {c: lab.server._replies[c].tags[VICTIM] for c in (1, 2, 3, 4)}
    ask = UnmaskRequest(
        round=7,
        session_id=lab.victim.session_id,
        survivors=lie,
        dropped=[4],
        seed_for=lie,
        key_for=[4],
        tags={c: peer_tags[c] for c in (1, 2, 3)},
    )
    refuses(lab, encode(ask), InconsistentSurvivorsError)


def test_too_few_confirmations_abort() -> None:
    lab = Lab()
    data = lab.reach(4)
    refuses(lab, altered(data, tags={}), AbortedError)


# ---- vectors ---------------------------------------------------------------------------------


def test_wrong_input_length_refused() -> None:
    with pytest.raises(VectorLengthError):
        SecAggClient(0, np.zeros(D + 1, np.uint8), PARAMS, round_index=0, model_digest=DIGEST)
    with pytest.raises(VectorLengthError):
        SecAggClient(0, np.full(D, 8, np.uint8), PARAMS, round_index=0, model_digest=DIGEST)
    with pytest.raises(VectorLengthError):
        SecAggClient(0, np.zeros(D, np.float32), PARAMS, round_index=0, model_digest=DIGEST)


def test_server_rejects_wrong_length_masked_vector_and_goes_on() -> None:
    lab = Lab()
    data = lab.reach(2)
    (reply,) = lab.victim.receive(data)
    short = altered(reply, vector=decode(reply, max_size=1 << 24).vector[:-1])
    with pytest.raises(VectorLengthError):
        lab.server.receive(VICTIM, short)
    with pytest.raises(MessageError):
        lab.server.receive(VICTIM, reply[:-3])
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


def test_server_refuses_duplicate_reply() -> None:
    lab = Lab()
    data = lab.reach(2)
    (reply,) = lab.victim.receive(data)
    lab.server.receive(VICTIM, reply)
    with pytest.raises(ReplayError):
        lab.server.receive(VICTIM, reply)
