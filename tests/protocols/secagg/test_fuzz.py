"""Fuzzing both state machines with mutated messages of every type, at every phase.

Each trial runs one real round and, once, hands a party a mutated copy of a message before (or
instead of) the genuine one: bit flips, truncations, extensions, replays and misroutes, and
field-level mutations (decode, change one field, re-encode): swapped ids, wrong rounds, stray
or missing entries, out-of-range shares, low-order keys, oversized rosters, foreign session ids.
Only the library's typed errors may escape. A refused message leaves the state machine as it was
(MessageError, ReplayError, OutOfOrderError, and every refusal on the server) or aborts a client
cleanly (ProtocolViolation, AbortedError: no secret kept, its Abort forwarded to the server).
Unless a mutated message was accepted, the round then completes with the exact sum. Seeded and
bounded: a fixed number of trials, stopped early by a time budget.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import time
from typing import Any

import numpy as np

from prism_secure.protocols.errors import (
    AbortedError,
    MessageError,
    OutOfOrderError,
    ProtocolViolation,
    ReplayError,
    SecAggError,
)
from prism_secure.protocols.secagg.client import SecAggClient
from prism_secure.protocols.secagg.messages import Abort, ClientAbort, RosterEntry, decode, encode
from prism_secure.protocols.secagg.params import SessionParams
from prism_secure.protocols.secagg.server import SecAggServer

TRIALS, BUDGET_S, D = 2500, 55.0, 32
STATE_KEEPING = (MessageError, ReplayError, OutOfOrderError)
BAD_KEYS = [bytes(32), (1).to_bytes(32, "little"), ((1 << 255) - 19).to_bytes(32, "little")]
BAD_KEYS.append(bytes(31) + b"\x80")  # the top bit set: non-canonical


def random_bytes(rng: random.Random, n: int) -> bytes:
    return bytes(rng.getrandbits(8) for _ in range(n))


def mutate_value(rng: random.Random, name: str, value: Any, ids: list[int]) -> Any:
    """Another value for one field: plausible enough to pass the codec, wrong for the protocol."""
    if isinstance(value, int) and not isinstance(value, bool):
        if name == "round":
            return value + rng.choice([-1, 1])
        return rng.choice([i for i in ids if i != value] + [2**32 - 1, value + 100])
    if isinstance(value, str):
        return "x" * rng.choice([0, 1001])
    if isinstance(value, bytes):
        if name.endswith("_key") and rng.random() < 0.7:
            return rng.choice(BAD_KEYS)
        if rng.random() < 0.2:
            return value[:-1] if value else b"\x00"
        return random_bytes(rng, len(value))
    if isinstance(value, dict):
        return mutate_dict(rng, name, dict(value), ids)
    if isinstance(value, list):
        return mutate_list(rng, name, list(value), ids)
    return value


def mutate_dict(rng: random.Random, name: str, d: dict[int, bytes], ids: list[int]) -> dict:
    keys = sorted(d)
    op = rng.choice(["drop", "add", "swap", "value", "share"])
    if op == "drop" and keys:
        del d[rng.choice(keys)]
    elif op == "add":
        d[rng.choice([i for i in ids if i not in d] or [999])] = d[keys[0]] if keys else bytes(66)
    elif op == "swap" and len(keys) >= 2:
        a, b = rng.sample(keys, 2)
        d[a], d[b] = d[b], d[a]
    elif keys and op == "share" and "shares" in name:
        k = rng.choice(keys)
        d[k] = rng.choice([b"\xff" * 66, random_bytes(rng, 65) + b"\x00"])  # out of, or in, range
    elif keys:
        k = rng.choice(keys)
        d[k] = mutate_value(rng, name, d[k], ids)
    return d


def mutate_list(rng: random.Random, name: str, xs: list, ids: list[int]) -> list:
    if xs and isinstance(xs[0], RosterEntry):
        op = rng.choice(["drop", "dup", "bad_key", "oversized", "reverse", "swap_keys"])
        if op == "drop":
            xs.pop(rng.randrange(len(xs)))
        elif op == "dup":
            xs.append(xs[rng.randrange(len(xs))].model_copy(update={"client": 777}))
        elif op == "bad_key":
            i = rng.randrange(len(xs))
            field = rng.choice(["share_key", "mask_key"])
            xs[i] = xs[i].model_copy(update={field: rng.choice(BAD_KEYS)})
        elif op == "oversized":
            e = xs[0]
            fake = [
                e.model_copy(update={"client": 1000 + j, "share_key": random_bytes(rng, 32)})
                for j in range(rng.choice([2, 60]))
            ]
            xs.extend(fake)
        elif op == "reverse":
            xs.reverse()
        elif len(xs) >= 2:
            a, b = rng.sample(range(len(xs)), 2)
            xs[a] = xs[a].model_copy(update={"mask_key": xs[b].mask_key})
        return xs
    op = rng.choice(["drop", "add", "reverse", "dup"])
    if op == "drop" and xs:
        xs.pop(rng.randrange(len(xs)))
    elif op == "add":
        xs.append(rng.choice(ids + [999]))
    elif op == "dup" and xs:
        xs.append(xs[0])
    else:
        xs.reverse()
    return xs


def mutate(rng: random.Random, data: bytes, ids: list[int], seen: list[bytes]) -> bytes:
    """One mutation of ``data``: at the byte level, a replay, or at the field level."""
    kinds = ["flip", "truncate", "extend", "header", "replay", "abort", "field", "field", "field"]
    kind = rng.choice(kinds)
    raw = bytearray(data)
    if kind == "flip":
        raw[rng.randrange(len(raw))] ^= 1 << rng.randrange(8)
    elif kind == "truncate":
        del raw[rng.randrange(len(raw)) :]
    elif kind == "extend":
        raw += random_bytes(rng, rng.randint(1, 8))
    elif kind == "header":
        raw[rng.randrange(2)] = rng.choice([0, 1, 3, 14, 15, 99, raw[1] ^ 1])
    elif kind == "replay" and seen:
        return rng.choice(seen)
    elif kind == "abort":  # an Abort of either direction, right or wrong round and sender
        if rng.random() < 0.5:
            return encode(Abort(round=rng.choice([2, 3]), reason="fuzz"))
        return encode(ClientAbort(sender=rng.choice(ids), round=rng.choice([3, 4]), reason="z"))
    else:
        msg = decode(data, max_size=1 << 24)
        name = rng.choice(list(type(msg).model_fields))
        changed = msg.model_copy(update={name: mutate_value(rng, name, getattr(msg, name), ids)})
        try:
            return encode(changed)
        except (ValueError, TypeError, OverflowError):  # not expressible on the wire
            raw[-1] ^= 1
    return bytes(raw)


class Trial:
    """One round with one mutated delivery, checked as described in the module docstring."""

    def __init__(self, rng: random.Random, sparse: bool) -> None:
        n, t, k = (9, 3, 4) if sparse else (6, 4, None)
        self.rng, self.n = rng, n
        self.params = SessionParams(
            threshold=t,
            bits=4,
            length=D,
            clients=n,
            graph="sparse" if sparse else "full",
            neighbours=k,
        )
        gen = np.random.default_rng(rng.getrandbits(32))
        self.inputs = {c: gen.integers(0, 2, D, dtype=np.uint8) for c in range(n)}
        digest = os.urandom(32)
        self.clients = {
            c: SecAggClient(c, self.inputs[c], self.params, round_index=3, model_digest=digest)
            for c in range(n)
        }
        self.server = SecAggServer(
            self.params, round_index=3, model_digest=digest, clients=list(range(n))
        )
        self.target = (rng.randrange(5), rng.random() < 0.5, rng.randrange(n))  # phase, down, whom
        self.tainted = False  # a mutated message was accepted: only typed outcomes are required
        self.lost: set[int] = set()
        self.seen: list[bytes] = []

    def server_state(self) -> tuple:
        s = self.server
        total = hashlib.sha256(s._sum.tobytes()).digest()
        return (s.phase, sorted(s._replies), sorted(s.client_aborts), s.session_id, total)

    def up(self, cid: int, data: bytes, phase: int) -> None:
        if (phase, False, cid) == self.target:
            bad = mutate(self.rng, data, list(range(self.n)), self.seen)
            if bad != data:
                before = self.server_state()
                try:
                    self.server.receive(cid, bad)
                except SecAggError:
                    assert self.server_state() == before, "a refused message changed the server"
                else:
                    self.tainted = True
                    with contextlib.suppress(SecAggError):  # now a duplicate, as a rule
                        self.server.receive(cid, data)
                    return
        self.seen.append(data)
        self.server.receive(cid, data)  # the genuine reply is always accepted

    def down(self, cid: int, data: bytes, phase: int) -> None:
        client = self.clients[cid]
        if (phase, True, cid) == self.target:
            bad = mutate(self.rng, data, list(range(self.n)), self.seen)
            if bad != data:
                before = (client.state, client.session_id, client.holds_secrets)
                try:
                    replies = client.receive(bad)
                except STATE_KEEPING:
                    assert (client.state, client.session_id, client.holds_secrets) == before
                except (ProtocolViolation, AbortedError) as exc:
                    assert client.state == "aborted" and not client.holds_secrets
                    self.lose(cid, exc)
                    return
                else:
                    self.tainted = True
                    for reply in replies:
                        self.up(cid, reply, phase)
                    return
        self.seen.append(data)
        try:
            replies = client.receive(data)
        except (ProtocolViolation, AbortedError) as exc:  # after an accepted lie, say
            assert self.tainted or isinstance(decode(data, max_size=1 << 24), Abort), exc
            self.lose(cid, exc)
            return
        for reply in replies:
            self.up(cid, reply, phase)

    def lose(self, cid: int, exc: SecAggError) -> None:
        self.lost.add(cid)
        if exc.abort_message:
            assert isinstance(decode(exc.abort_message, max_size=4096), ClientAbort)
            self.server.receive(cid, exc.abort_message)

    def run(self) -> str:
        for c, client in self.clients.items():
            self.up(c, client.start(), 0)
        phase = 0
        while self.server.phase not in ("done", "aborted"):
            phase += 1
            for cid, data in self.server.advance():
                if cid not in self.lost:
                    self.down(cid, data, phase)
        try:
            res = self.server.result()
        except AbortedError:
            assert self.tainted or len(self.lost) > 1, "the round aborted with enough honest"
            return "aborted"
        for cid, client in self.clients.items():
            if client.state in ("done", "aborted"):
                assert not client.holds_secrets, f"client {cid} kept secrets"
            else:  # only a client the server dropped on a forged Abort is left waiting
                assert self.tainted, f"client {cid} left in state {client.state}"
        if not self.tainted:
            expected = sum(self.inputs[c].astype(np.int64) for c in res.survivors)
            np.testing.assert_array_equal(res.total, expected)
            return "exact"
        return "completed"


def test_fuzzed_messages_only_raise_typed_errors_and_leave_rounds_sound() -> None:
    rng = random.Random(20240917)
    outcomes: dict[str, int] = {}
    start = time.perf_counter()
    for i in range(TRIALS):
        if time.perf_counter() - start > BUDGET_S:
            break
        trial = Trial(random.Random(rng.getrandbits(64)), sparse=i % 3 == 2)
        try:
            outcome = trial.run()
        except SecAggError:
            outcome = "typed error"  # e.g. the genuine reply refused after an accepted lie
            assert trial.tainted, f"trial {i}: a typed error escaped an honest round"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    assert sum(outcomes.values()) >= 100, outcomes
    assert outcomes.get("exact", 0) >= sum(outcomes.values()) // 3, outcomes
