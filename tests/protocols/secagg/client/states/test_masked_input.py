"""The masked-input state: every share is opened and checked before the vector is masked.

Each test feeds the state one bad MaskedInputRequest (or another message it can receive)."""

from __future__ import annotations

import os

import pytest

from prism_secure.protocols.errors import (
    AbortedError,
    MessageError,
    ReplayError,
    SessionMismatchError,
    ShareDecryptionError,
    UnexpectedPeerError,
)
from prism_secure.protocols.secagg.client.states.masked_input import MaskedInputState
from prism_secure.protocols.secagg.messages import decode


def test_bad_bytes_and_misordered_messages_leave_the_state(lab) -> None:
    data = lab.reach(2)
    assert isinstance(lab.victim.current_state, MaskedInputState)
    lab.check_bad_bytes_and_order(data)
    lab.deliver(data)
    assert lab.victim.state == "consistency"


def test_server_abort(lab) -> None:
    lab.reach(2)
    lab.check_server_abort("masked")


def test_replayed_message_refused_without_harm(lab) -> None:
    first = lab.reach(1)
    lab.deliver(first)
    with pytest.raises(ReplayError):
        lab.victim.receive(first)
    assert lab.victim.state == "masked"  # a duplicate packet does not kill the round
    lab.deliver(lab.next_for_victim())
    lab.deliver(lab.next_for_victim())
    lab.deliver(lab.next_for_victim())
    lab.next_for_victim()
    assert lab.server.result().survivors == list(range(lab.N))


def test_truncated_and_oversized_rejected_state_intact(lab) -> None:
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


def test_tampered_ciphertext_refused(lab) -> None:
    data = lab.reach(2)
    cts = dict(decode(data, max_size=1 << 24).ciphertexts)
    peer = next(iter(cts))
    blob = bytearray(cts[peer])
    blob[40] ^= 1
    cts[peer] = bytes(blob)
    lab.refuses(lab.altered(data, ciphertexts=cts), ShareDecryptionError)


def test_swapped_ciphertexts_refused(lab) -> None:
    data = lab.reach(2)
    cts = dict(decode(data, max_size=1 << 24).ciphertexts)
    a, b = sorted(cts)[:2]
    cts[a], cts[b] = cts[b], cts[a]
    lab.refuses(lab.altered(data, ciphertexts=cts), ShareDecryptionError)


def test_non_neighbour_ciphertext_refused(lab) -> None:
    data = lab.reach(2)
    cts = dict(decode(data, max_size=1 << 24).ciphertexts)
    cts[42] = next(iter(cts.values()))
    lab.refuses(lab.altered(data, ciphertexts=cts), UnexpectedPeerError)


def test_wrong_session_id_refused(lab) -> None:
    lab.refuses(lab.altered(lab.reach(2), session_id=os.urandom(32)), SessionMismatchError)


def test_digests_not_covering_the_senders_refused(lab) -> None:
    data = lab.reach(2)
    digests = dict(decode(data, max_size=1 << 24).share_digests)
    digests.pop(next(iter(digests)))
    lab.refuses(lab.altered(data, share_digests=digests), UnexpectedPeerError)


def test_wrong_digest_of_a_dealer_refused(lab) -> None:
    """The server (or the dealer) sends a digest that is not of the shares inside."""
    data = lab.reach(2)
    digests = dict(decode(data, max_size=1 << 24).share_digests)
    peer = next(iter(digests))
    digests[peer] = bytes(32)
    lab.refuses(lab.altered(data, share_digests=digests), ShareDecryptionError)


def test_too_few_senders_abort(lab) -> None:
    data = lab.reach(2)
    msg = decode(data, max_size=1 << 24)
    keep = sorted(msg.ciphertexts)[: lab.T - 2]  # with the victim: t - 1 clients shared keys
    cts = {c: msg.ciphertexts[c] for c in keep}
    digests = {c: msg.share_digests[c] for c in keep}
    lab.refuses(lab.altered(data, ciphertexts=cts, share_digests=digests), AbortedError)
    assert lab.victim.current_state.error == "AbortedError"
