"""Hostile keys, hostile shares, and how a round ends: each attack refused with a typed error.

Every test plays one malicious party against the real state machines (real crypto, bytes
between them) and checks that the round is refused cleanly or still gives the exact sum.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from prism_secure.protocols.errors import (
    AbortedError,
    InconsistentSurvivorsError,
    ProtocolViolation,
    SecAggError,
)
from prism_secure.protocols.secagg import messages
from prism_secure.protocols.secagg.client import SecAggClient
from prism_secure.protocols.secagg.client.states.base import RoundInfo, Step
from prism_secure.protocols.secagg.client.states.completed import CompletedState
from prism_secure.protocols.secagg.client.states.consistency import ConsistencyState
from prism_secure.protocols.secagg.crypto import shamir
from prism_secure.protocols.secagg.driver import run_secure_sum
from prism_secure.protocols.secagg.messages import Message, decode, encode
from prism_secure.protocols.secagg.params import SessionParams
from prism_secure.protocols.secagg.server import SecAggServer
from prism_secure.protocols.secagg.session import session_id

DIGEST = os.urandom(32)
P25519 = 2**255 - 19
ORDER8 = (
    325606250916557431795983626356110631294008115727848805560023387167927233504,
    39382357235489614581723060781553021112529911719440698176882885853963445705823,
)
Alter = Callable[[int, bytes], bytes | None]


def session_params(n: int, **kw: object) -> SessionParams:
    """SessionParams for a cohort of n (the cohort size became a field with the security rule)."""
    if "clients" in SessionParams.model_fields:
        kw["clients"] = n
    return SessionParams(**kw)  # type: ignore[arg-type]


def altered(data: bytes, **changes: object) -> bytes:
    return encode(decode(data, max_size=1 << 24).model_copy(update=changes))


class Lab:
    """One round of n real clients and a real server; tests alter what passes between them."""

    def __init__(self, n: int = 5, t: int = 3, d: int = 24, skip: tuple[int, ...] = ()) -> None:
        self.params = session_params(n, threshold=t, bits=3, length=d)
        rng = np.random.default_rng(n * 100 + t)
        self.inputs = {c: rng.integers(0, 2, d, dtype=np.uint8) for c in range(n)}
        self.clients = {
            c: SecAggClient(c, self.inputs[c], self.params, round_index=7, model_digest=DIGEST)
            for c in range(n)
        }
        self.server = SecAggServer(
            self.params, round_index=7, model_digest=DIGEST, clients=list(range(n))
        )
        self.starts = {c: cl.start() for c, cl in self.clients.items()}
        self.refusals: dict[int, SecAggError] = {}  # what each client refused
        self.server_refusals: dict[int, SecAggError] = {}  # what the server refused, by sender
        for c, data in self.starts.items():
            if c not in skip:
                self.server.receive(c, data)

    def phase(self, down: Alter | None = None, up: Alter | None = None) -> None:
        """Close the server's phase; carry its messages down and the replies up, via the hooks."""
        for cid, data in self.server.advance():
            data = down(cid, data) if down else data
            if data is None or cid in self.refusals:
                continue
            try:
                replies = self.clients[cid].receive(data)
            except SecAggError as exc:
                self.refusals[cid] = exc
                notice = getattr(exc, "abort_message", None)
                if notice:  # a client that refused tells the server, which drops it at once
                    self.server.receive(cid, notice)
                continue
            for reply in replies:
                reply = up(cid, reply) if up else reply
                if reply is not None:
                    try:
                        self.server.receive(cid, reply)
                    except SecAggError as exc:
                        self.server_refusals[cid] = exc

    def finish(self) -> np.ndarray:
        while self.server.phase not in ("done", "aborted"):
            self.phase()
        return self.server.result().total

    def plain_sum(self, ids: list[int]) -> np.ndarray:
        return sum(self.inputs[c].astype(np.int64) for c in ids)  # type: ignore[return-value]


# ---- 1. invalid public keys ----------------------------------------------------------------

BAD_KEYS = {
    "all-zero": 0,
    "u=1": 1,
    "order-8 a": ORDER8[0],
    "order-8 b": ORDER8[1],
    "p-1": P25519 - 1,
    "non-canonical p": P25519,
    "non-canonical top bit": (1 << 255) + 9,
}


@pytest.mark.parametrize("field", ["share_key", "mask_key"])
@pytest.mark.parametrize("u", BAD_KEYS.values(), ids=BAD_KEYS.keys())
def test_low_order_key_injected_by_server_aborts_client_with_typed_error(
    field: str, u: int
) -> None:
    """The server swaps a peer's key for a small-order point (every shared secret all zero)."""
    lab = Lab()

    def inject(cid: int, data: bytes) -> bytes:
        if cid != 0:
            return data
        msg = decode(data, max_size=1 << 24)
        roster = [
            e.model_copy(update={field: u.to_bytes(32, "little")}) if e.client == 3 else e
            for e in msg.roster
        ]
        sid = session_id(lab.params, 7, DIGEST, roster)  # a consistent lie: the id matches
        return altered(data, roster=roster, session_id=sid)

    lab.phase(down=inject)
    err = lab.refusals.get(0)
    assert isinstance(err, ProtocolViolation), f"expected a typed refusal, got {err!r}"
    assert type(err).__name__ == "InvalidPublicKeyError" and "roster[3]" in str(err)
    assert lab.clients[0].state == "aborted"


@pytest.mark.parametrize("u", BAD_KEYS.values(), ids=BAD_KEYS.keys())
def test_low_order_key_advertised_by_client_is_refused_and_round_goes_on(u: int) -> None:
    """A client advertises a bad mask key: the server refuses it, the others still sum exactly."""
    lab = Lab(skip=(4,))
    bad = altered(lab.starts[4], mask_key=u.to_bytes(32, "little"))
    with pytest.raises(ProtocolViolation, match="mask_key"):
        lab.server.receive(4, bad)
    assert lab.server.phase == "advertise"
    total = lab.finish()
    assert lab.server.result().survivors == [0, 1, 2, 3]
    np.testing.assert_array_equal(total, lab.plain_sum([0, 1, 2, 3]))


# ---- 2. bad Shamir shares --------------------------------------------------------------------


def shift_that_moves_secret_by(one: int, holders: list[int], t: int, by: int = 1) -> int:
    """The share offset for holder ``one`` that moves the recovered secret by exactly ``by``.

    Lagrange weights are public, so a holder that knows which t shares the server combines can
    move the secret wherever it likes, keeping it a valid 32-byte value.
    """
    xs = sorted(h + 1 for h in holders)[:t]
    weight = shamir.lagrange_at_zero(xs)[xs.index(one + 1)]
    return by * pow(weight, -1, shamir.PRIME) % shamir.PRIME


def test_wrong_share_in_unmask_reply_is_refused_and_never_corrupts_the_sum() -> None:
    """Holder 1 moves client 4's recovered seed by one: the sum would be silently wrong."""
    lab = Lab()
    for _ in range(3):  # advertise, share, masked: the next phase brings the unmask replies
        lab.phase()
    delta = shift_that_moves_secret_by(1, list(range(5)), 3)

    def lie(cid: int, reply: bytes) -> bytes:
        if cid != 1:
            return reply
        shares = dict(decode(reply, max_size=1 << 24).seed_shares)
        value = (int.from_bytes(shares[4], "little") + delta) % shamir.PRIME
        shares[4] = value.to_bytes(66, "little")
        return altered(reply, seed_shares=shares)

    lab.phase(up=lie)  # the server closes the consistency phase and gathers the replies
    total = lab.finish()  # holder 1's reply is ignored: four verified shares of each secret left
    np.testing.assert_array_equal(total, lab.plain_sum(list(range(5))), "a corrupted sum")
    refused = lab.server_refusals.get(1)
    assert isinstance(refused, ProtocolViolation), "the server accepted a wrong share"
    assert getattr(refused, "sender", None) == 1 and "client 1" in str(refused)


def test_garbage_share_in_unmask_reply_is_typed_not_overflow() -> None:
    """An in-range random share: the old server raised a raw OverflowError and stayed stuck."""
    lab = Lab(n=4, t=3)
    for _ in range(3):  # advertise, share, masked: the next phase brings the unmask replies
        lab.phase()

    def garbage(cid: int, reply: bytes) -> bytes:
        if cid != 2:
            return reply
        shares = {o: os.urandom(65) + b"\x00" for o in decode(reply, max_size=1 << 24).seed_shares}
        return altered(reply, seed_shares=shares)

    lab.phase(up=garbage)
    try:  # the remaining three shares suffice (t = 3): the round completes exactly
        total = lab.finish()
    except (OverflowError, ValueError) as exc:  # the defect: a raw error out of advance()
        pytest.fail(f"advance() raised {type(exc).__name__}: {exc}")
    np.testing.assert_array_equal(total, lab.plain_sum(list(range(4))))
    assert isinstance(lab.server_refusals.get(2), ProtocolViolation)


class CheatingDealer:
    """Client 4 deals one secret with some holders' shares moved off the polynomial."""

    def __init__(
        self, monkeypatch: pytest.MonkeyPatch, holders: list[int], secret: str = "seed"
    ) -> None:
        self.turn: int | None = None
        self.calls = 0
        real = shamir.split
        # +8 for the key: X25519 clears a private key's low 3 bits, so +1 would change nothing
        by = 1 if secret == "seed" else 8
        delta = {h: shift_that_moves_secret_by(h, list(range(5)), 3, by) for h in holders}
        target = 1 if secret == "seed" else 2  # the seed is dealt first, then the mask key

        def split(value: int, threshold: int, xs: object) -> dict[int, int]:
            shares = real(value, threshold, xs)  # type: ignore[arg-type]
            if self.turn == 4:
                self.calls += 1
                if self.calls == target:
                    for h, d in delta.items():
                        shares[h + 1] = (shares[h + 1] + d) % shamir.PRIME
            return shares

        monkeypatch.setattr(shamir, "split", split)

    def down(self, cid: int, data: bytes) -> bytes:
        self.turn = cid
        return data


def test_dealer_with_one_inconsistent_share_is_corrected_from_extra_shares(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Five shares, t = 3: one share off its polynomial is outvoted, the sum stays exact."""
    lab = Lab()
    dealer = CheatingDealer(monkeypatch, holders=[1])
    lab.phase(down=dealer.down)
    assert dealer.calls == 2
    np.testing.assert_array_equal(lab.finish(), lab.plain_sum(list(range(5))), "a corrupted sum")


def test_dealer_with_inconsistent_shares_aborts_the_round_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two of five shares off the polynomial: no secret can be trusted, nothing is released."""
    lab = Lab()
    lab.phase(down=CheatingDealer(monkeypatch, holders=[1, 2]).down)
    with pytest.raises(AbortedError) as info:
        lab.finish()
    assert getattr(info.value, "dealer", None) == 4 and "client 4" in str(info.value)
    assert lab.server.phase == "aborted"


def test_dropped_dealer_with_inconsistent_key_shares_aborts_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Client 4 drops after dealing a bad mask key: its pairwise masks cannot be trusted."""
    lab = Lab()
    lab.phase(down=CheatingDealer(monkeypatch, holders=[1], secret="key").down)
    lab.phase(down=lambda cid, data: None if cid == 4 else data)  # 4's masked input never comes
    with pytest.raises(AbortedError) as info:
        lab.finish()
    assert getattr(info.value, "dealer", None) == 4


# ---- 5. a clean ending ---------------------------------------------------------------------


def reachable(root: object) -> list[object]:
    """Every object reachable from ``root`` through attributes and containers."""
    seen: dict[int, object] = {}
    todo = [root]
    while todo:
        obj = todo.pop()
        if id(obj) in seen:
            continue
        seen[id(obj)] = obj
        if isinstance(obj, dict):
            todo += [*obj.keys(), *obj.values()]
        elif isinstance(obj, list | tuple | set | frozenset):
            todo += list(obj)
        elif hasattr(obj, "__dict__") and not isinstance(obj, type):
            todo += list(vars(obj).values())
    return list(seen.values())


def test_completed_client_keeps_no_secret_of_the_round() -> None:
    """After 'done' a client holds no seed, private key, pairwise secret or share to leak."""
    lab = Lab()
    np.testing.assert_array_equal(lab.finish(), lab.plain_sum(list(range(5))))
    for cid, client in lab.clients.items():
        assert client.state == "done" and isinstance(client.current_state, CompletedState)
        assert not client.holds_secrets
        public = {client.session_id, client.model_digest}
        kept = [
            type(o).__name__
            for o in reachable(client)
            if isinstance(o, X25519PrivateKey)
            or (isinstance(o, bytes) and len(o) == 32 and o not in public)  # seeds, secrets
            or (isinstance(o, int) and o >= 2**64)  # Shamir shares
            or (isinstance(o, np.ndarray) and o.size)  # the input
        ]
        assert not kept, f"client {cid} still holds {kept}"


def test_refusing_client_tells_the_server_which_drops_it_at_once() -> None:
    """The server lists client 0 as missing; 0 refuses, and its Abort reaches the server."""
    lab = Lab()
    lab.phase()
    lab.phase()

    def without_zero(cid: int, data: bytes) -> bytes:
        return altered(data, survivors=[1, 2, 3, 4]) if cid == 0 else data

    lab.phase(down=without_zero)
    refused = lab.refusals[0]
    assert isinstance(refused, InconsistentSurvivorsError)
    assert getattr(refused, "abort_message", None), "the refusal carries no Abort to send"
    assert 0 in lab.server.client_aborts and "missing" in lab.server.client_aborts[0]
    assert lab.server.ready  # nobody waits for client 0 any more
    lab.finish()  # 0's masked input arrived before it left: it is a survivor, its seed recovered
    np.testing.assert_array_equal(lab.server.result().total, lab.plain_sum(list(range(5))))


@pytest.mark.parametrize("phase", range(5))
def test_server_accepts_a_client_abort_in_every_phase(phase: int) -> None:
    """Client 4 leaves with an Abort instead of its reply: dropped like a silent client."""
    abort = encode(messages.ClientAbort(sender=4, round=7, reason="user quit"))
    lab = Lab(skip=(4,) if phase == 0 else ())
    if phase == 0:
        lab.server.receive(4, abort)

    def leave(cid: int, data: bytes) -> bytes | None:
        if cid != 4:
            return data
        lab.server.receive(4, abort)  # 4 gets its request and answers with an Abort
        return None

    for p in range(1, 5):
        lab.phase(down=leave if p == phase else None)
    lab.finish()
    res = lab.server.result()
    expected = [0, 1, 2, 3, 4] if phase >= 3 else [0, 1, 2, 3]  # after its masked input: counted
    assert res.survivors == expected and lab.server.client_aborts == {4: "user quit"}
    np.testing.assert_array_equal(res.total, lab.plain_sum(expected))


def test_client_abort_after_its_masked_input_takes_the_input_out() -> None:
    lab = Lab()
    lab.phase()
    lab.phase()  # every masked input is in
    lab.server.receive(4, encode(messages.ClientAbort(sender=4, round=7, reason="changed mind")))
    lab.finish()
    assert lab.server.result().survivors == [0, 1, 2, 3]
    np.testing.assert_array_equal(lab.server.result().total, lab.plain_sum([0, 1, 2, 3]))


def test_run_secure_sum_forwards_a_client_abort(monkeypatch: pytest.MonkeyPatch) -> None:
    """A client that refuses the consistency request leaves; the round completes without it."""
    original = ConsistencyState.handle

    def refuse(self: ConsistencyState, info: RoundInfo, msg: Message) -> Step:
        if info.client_id == 3:
            raise InconsistentSurvivorsError("survivors", "refused for the test")
        return original(self, info, msg)

    monkeypatch.setattr(ConsistencyState, "handle", refuse)
    rng = np.random.default_rng(5)
    inputs = {c: rng.integers(0, 2, 50, dtype=np.uint8) for c in range(6)}
    res = run_secure_sum(inputs, threshold=4, round_index=1, model_digest=DIGEST)
    assert res.client_aborts.keys() == {3}
    assert res.survivors == list(range(6))  # 3's masked input was in before it left
    np.testing.assert_array_equal(res.total, sum(v.astype(np.int64) for v in inputs.values()))
