"""A client saved to bytes and restored continues exactly as the original, at every state.

Fresh keys come from the OS, so a restored client is compared with the original in parallel:
both get the same message with the same randomness (Shamir coefficients and AEAD nonces drawn
from one seeded generator, reset before each of the two calls) and must send the same bytes and
end in the same state. Blobs that are corrupt, truncated, of another version or inconsistent are
refused with a StateError naming the field, whatever the mutation.
"""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prism_secure.protocols.encoding import decode_fields, encode_fields
from prism_secure.protocols.errors import (
    AbortedError,
    ReplayError,
    SessionMismatchError,
    StateError,
)
from prism_secure.protocols.secagg.client import SecAggClient, records, snapshot
from prism_secure.protocols.secagg.client.states.aborted import AbortedState
from prism_secure.protocols.secagg.client.states.masked_input import MaskedInputState
from prism_secure.protocols.secagg.crypto import aead, shamir
from prism_secure.protocols.secagg.params import SessionParams


@pytest.fixture
def seeded(monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    """``with seeded(s):`` makes the Shamir coefficients and AEAD nonces a function of ``s``."""
    rng = random.Random()
    monkeypatch.setattr(shamir, "secrets", SimpleNamespace(randbelow=lambda n: rng.randrange(n)))
    monkeypatch.setattr(aead, "os", SimpleNamespace(urandom=lambda k: rng.randbytes(k)))

    @contextmanager
    def use(seed: int) -> Iterator[None]:
        rng.seed(seed)
        yield

    return use


def twin_of(client: SecAggClient) -> SecAggClient:
    """The client restored from its own saved state, checked to save back to the same bytes."""
    blob = client.export_state()
    twin = SecAggClient.from_state(blob)
    assert twin.export_state() == blob
    assert (twin.state, twin.session_id, twin.holds_secrets) == (
        client.state,
        client.session_id,
        client.holds_secrets,
    )
    assert (twin.id, twin.params, twin.round, twin.model_digest) == (
        client.id,
        client.params,
        client.round,
        client.model_digest,
    )
    return twin


def test_restored_client_answers_byte_for_byte_at_every_state(make_lab, seeded) -> None:
    lab = make_lab()
    victim = lab.victim
    # advertise: the restored client starts with the same keys and commitment
    fresh = SecAggClient(
        9, np.zeros(lab.D, np.uint8), lab.PARAMS, round_index=lab.ROUND, model_digest=lab.DIGEST
    )
    assert twin_of(fresh).start() == fresh.start()
    # share, masked, consistency, unmask: the same request, the same reply, the same next state
    states = []
    for step in range(4):
        data = lab.next_for_victim()
        twin = twin_of(victim)
        states.append(victim.state)
        with seeded(step):
            replies = victim.receive(data)
        with seeded(step):
            assert twin.receive(data) == replies
        assert twin.export_state() == victim.export_state()
        for reply in replies:
            lab.server.receive(lab.VICTIM, reply)
    assert states == ["share", "masked", "consistency", "unmask"]
    lab.next_for_victim()
    np.testing.assert_array_equal(
        lab.server.result().total, sum(v.astype(np.int64) for v in lab.inputs.values())
    )
    # done: both refuse alike
    twin = twin_of(victim)
    for client in (victim, twin):
        with pytest.raises(ReplayError):
            client.receive(b"")


def test_restored_aborted_client_refuses_alike_and_owes_the_same_abort(lab) -> None:
    data = lab.reach(3)
    lab.refuses(lab.altered(data, session_id=os.urandom(32)), SessionMismatchError)
    twin = twin_of(lab.victim)
    assert isinstance(twin.current_state, AbortedState)
    assert twin.abort_message() == lab.victim.abort_message() is not None
    assert twin.abort_cause == lab.victim.abort_cause
    for client in (lab.victim, twin):
        with pytest.raises(AbortedError, match="already aborted"):
            client.receive(data)


@pytest.mark.parametrize("graph", ["full", "sparse"])
def test_a_round_where_every_message_meets_a_freshly_restored_client(graph: str) -> None:
    """As in Flower, where each message is handled by a new process: save, load, answer, save."""
    n, d = 7, 40
    params = SessionParams(
        threshold=3 if graph == "sparse" else 4,
        bits=3,
        length=d,
        clients=n,
        graph=graph,
        neighbours=4 if graph == "sparse" else None,
    )
    rng = np.random.default_rng(2)
    inputs = {c: rng.integers(0, 2, d, dtype=np.uint8) for c in range(n)}
    digest = os.urandom(32)
    blobs = {
        c: SecAggClient(c, inputs[c], params, round_index=2, model_digest=digest).export_state()
        for c in range(n)
    }
    from prism_secure.protocols.secagg.server import SecAggServer

    server = SecAggServer(params, round_index=2, model_digest=digest, clients=list(range(n)))
    for c in range(n):
        client = SecAggClient.from_state(blobs[c])
        server.receive(c, client.start())
        blobs[c] = client.export_state()
    dropped = 5  # vanishes after sharing keys: its pairwise masks must be rebuilt from shares
    while server.phase not in ("done", "aborted"):
        for c, data in server.advance():
            client = SecAggClient.from_state(blobs[c])
            replies = client.receive(data)
            blobs[c] = client.export_state()
            if not (c == dropped and client.state == "consistency"):
                for reply in replies:
                    server.receive(c, reply)
    res = server.result()
    assert res.survivors == [c for c in range(n) if c != dropped]
    np.testing.assert_array_equal(res.total, sum(inputs[c].astype(np.int64) for c in res.survivors))
    survivors = [SecAggClient.from_state(blobs[c]) for c in res.survivors]
    assert all(c.state == "done" and not c.holds_secrets for c in survivors)


# ---- refusals ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def blobs(make_lab) -> dict[str, bytes]:
    """Client 0's saved state at every step of one honest round, by state name, and aborted."""
    lab = make_lab()
    saved = {}
    fresh = SecAggClient(
        9, np.zeros(lab.D, np.uint8), lab.PARAMS, round_index=lab.ROUND, model_digest=lab.DIGEST
    )
    saved["advertise"] = fresh.export_state()
    for _ in range(4):
        data = lab.next_for_victim()
        saved[lab.victim.state] = lab.victim.export_state()
        lab.deliver(data)
    saved["done"] = lab.victim.export_state()
    other = make_lab()
    data = other.reach(2)
    with pytest.raises(SessionMismatchError):
        other.victim.receive(other.altered(data, session_id=os.urandom(32)))
    saved["aborted"] = other.victim.export_state()
    return saved


NAMES = ["advertise", "share", "masked", "consistency", "unmask", "done", "aborted"]


def reseal(body: bytes) -> bytes:
    return body + hashlib.sha256(body).digest()


def parts(blob: bytes) -> tuple[int, records.Record]:
    """The kind and the record of a saved state."""
    body = blob[: -hashlib.sha256().digest_size]
    kind = body[len(snapshot.MAGIC) + 1]
    cls = {c.KIND: c for c in snapshot.STATES}[kind]
    record = decode_fields(cls.RECORD, body[len(snapshot.MAGIC) + 2 :])
    assert isinstance(record, records.Record)
    return kind, record


def forge(kind: int, record: records.Record, version: int = snapshot.VERSION) -> bytes:
    """A blob with a valid checksum around ``record``: only its contents can be wrong."""
    return reseal(snapshot.MAGIC + bytes((version, kind)) + encode_fields(record))


def altered(blob: bytes, **changes: object) -> bytes:
    kind, record = parts(blob)
    return forge(kind, record.model_copy(update=changes))


def refused(blob: bytes, field: str) -> None:
    with pytest.raises(StateError) as info:
        SecAggClient.from_state(blob)
    assert info.value.field == field, info.value


def test_every_state_saves_and_loads(blobs) -> None:
    assert list(blobs) == [
        "advertise",
        "share",
        "masked",
        "consistency",
        "unmask",
        "done",
        "aborted",
    ]
    for name, blob in blobs.items():
        client = SecAggClient.from_state(blob)
        assert client.state == name and client.export_state() == blob


def test_envelope_defects_are_named(blobs) -> None:
    blob = blobs["masked"]
    body = blob[:-32]
    refused(b"", "state")
    refused(blob[:20], "state")
    refused(b"XXXX" + blob[4:], "magic")
    refused(reseal(body[:4] + bytes([snapshot.VERSION + 1]) + body[5:]), "version")
    refused(blob[:-1] + bytes([blob[-1] ^ 1]), "checksum")
    refused(blob[:-33] + blob[-32:], "checksum")  # truncated body, old checksum
    refused(reseal(body[:5] + bytes([99]) + body[6:]), "kind")
    with pytest.raises(StateError):
        SecAggClient.from_state(reseal(body + b"\x00"))  # trailing bytes
    with pytest.raises(StateError):
        SecAggClient.from_state(reseal(body[:-1]))  # truncated record
    with pytest.raises(StateError, match="bytes"):
        SecAggClient.from_state("not bytes")  # type: ignore[arg-type]


def test_inconsistent_records_are_refused_naming_the_field(blobs) -> None:
    kind, masked = parts(blobs["masked"])
    roster = list(masked.roster)
    refused(altered(blobs["masked"], roster=roster[::-1]), "roster")
    refused(altered(blobs["masked"], roster=roster[1:]), "roster")  # without client 0
    refused(altered(blobs["masked"], roster=roster[:2]), "roster")  # below t
    secrets = dict(masked.share_secrets)
    secrets.pop(next(iter(secrets)))
    refused(altered(blobs["masked"], share_secrets=secrets), "share_secrets")
    refused(altered(blobs["masked"], mask_seeds={}), "mask_seeds")
    refused(altered(blobs["masked"], vector=masked.vector[:-1]), "vector")
    refused(altered(blobs["masked"], seed_share=b"\xff" * 66), "seed_share")
    _, held = parts(blobs["consistency"])
    refused(altered(blobs["consistency"], survivors=[0, 1, 2]), "survivors")
    mine = {c: h for c, h in held.held.items() if c != 0}
    refused(altered(blobs["consistency"], held=mine), "held")
    stranger = {**held.held, 42: held.held[0]}
    refused(altered(blobs["consistency"], held=stranger), "held")
    refused(altered(blobs["unmask"], survivors=[]), "survivors")
    refused(altered(blobs["unmask"], survivors=[1, 2, 3]), "survivors")  # without client 0
    refused(altered(blobs["aborted"], cause="bored"), "cause")
    refused(altered(blobs["done"], session=b""), "session")
    refused(altered(blobs["share"], params="{}"), "params")
    insecure = SessionParams.model_construct(**{**masked_params(blobs), "threshold": 2})
    refused(altered(blobs["share"], params=insecure.model_dump_json()), "params")
    assert kind == MaskedInputState.KIND


def masked_params(blobs: dict[str, bytes]) -> dict[str, object]:
    return SecAggClient.from_state(blobs["masked"]).params.model_dump()


MUTATIONS = st.lists(
    st.tuples(st.sampled_from(["flip", "insert", "delete", "set", "cut"]), st.integers(0, 10**6)),
    min_size=1,
    max_size=4,
)


def mutate(blob: bytes, ops: list[tuple[str, int]], data: st.DataObject) -> bytes:
    raw = bytearray(blob)
    for op, at in ops:
        at %= len(raw) + 1
        if op == "insert":
            raw.insert(at, data.draw(st.integers(0, 255)))
        elif op == "cut":
            del raw[at:]
        elif raw and at < len(raw):
            if op == "flip":
                raw[at] ^= 1 << data.draw(st.integers(0, 7))
            elif op == "delete":
                del raw[at]
            else:
                raw[at] = data.draw(st.integers(0, 255))
        if not raw:
            raw.append(0)
    return bytes(raw)


@settings(max_examples=300)
@given(
    name=st.sampled_from(NAMES),
    ops=MUTATIONS,
    data=st.data(),
)
def test_mutated_blobs_only_raise_the_typed_error(blobs, name: str, ops, data) -> None:
    blob = mutate(blobs[name], ops, data)
    if blob == blobs[name]:
        return
    with pytest.raises(StateError):
        SecAggClient.from_state(blob)


@settings(max_examples=300)
@given(
    name=st.sampled_from(NAMES),
    ops=MUTATIONS,
    data=st.data(),
)
def test_mutated_records_behind_a_valid_checksum_load_whole_or_not_at_all(
    blobs, name: str, ops, data
) -> None:
    """Past the checksum, every field check: the record loads as a whole, or a StateError."""
    body = blobs[name][:-32]
    head = len(snapshot.MAGIC) + 2
    mutated = body[:head] + mutate(body[head:], ops, data)
    try:
        client = SecAggClient.from_state(reseal(mutated))
    except StateError:
        return
    again = SecAggClient.from_state(client.export_state())  # what loaded is a sound state
    assert again.state == client.state and again.export_state() == client.export_state()
