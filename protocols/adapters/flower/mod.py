"""The ClientApp mod: the user's training stays as it is; its update leaves only masked.

``ClientApp(mods=[prism_secagg_mod()])`` (Message API) or ``ClientApp(client_fn=...,
mods=[prism_secagg_mod()])`` (legacy NumPyClient). For every message of the ``train`` category:

- ``train`` stage: the mod checks the server's setup (:class:`~.round_setup.RoundSetup`), hashes
  the global model it received, calls the user's training, takes the update and its weight from
  the reply, checks them against the round's layout (a wrong name, shape or dtype, NaN or inf is
  refused: :class:`~.errors.UpdateRefused` naming this client and the array, sent as a refusal
  report the server counts as a dropout), quantises, starts the SecAgg client and replies with
  its AdvertiseKeys alone;
- every later stage: one protocol step of the saved client (``abort``: forget it).

Each message is handled by a fresh process, so the client's exported state is saved between
steps where :mod:`.client_state` says (``context.state``, or an owner-only file when a state
folder is named): on the node, never in a reply. No reply ever holds the plaintext update, the
weight or the user's metrics. A ``train`` message without our record is refused, not trained:
answering it would send the update in the clear. Other categories (evaluate, query) pass.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from flwr.app import Context, Message

from prism_secure.protocols import SecAggClient
from prism_secure.protocols.adapters.flower import stages
from prism_secure.protocols.adapters.flower.client_state import StateStore, store_for
from prism_secure.protocols.adapters.flower.errors import ClientStateMissing, UpdateRefused
from prism_secure.protocols.adapters.flower.formats import update_of, without
from prism_secure.protocols.adapters.flower.quantise import quantise
from prism_secure.protocols.adapters.flower.round_setup import RoundSetup, model_digest
from prism_secure.protocols.adapters.flower.transport import (
    RECORD,
    FlowerPayloadError,
    Payload,
    pack,
    unpack,
)
from prism_secure.protocols.errors import AbortedError, ProtocolViolation, SecAggError

log = logging.getLogger(__name__)
Handler = Callable[[Message, Context], Message]
Mod = Callable[[Message, Context, Handler], Message]


def prism_secagg_mod(*, state_dir: str | Path | None = None, allow_insecure: bool = False) -> Mod:
    """A Flower mod running prism-secure's SecAgg for this node's training replies.

    ``state_dir`` keeps the saved client state in files there (also settable per node with the
    node config key ``prism-secagg-state-dir``); without either it stays in ``context.state``.
    A session the server marks insecure (a threshold under the split-view rule, run with the
    server's ``allow_insecure``) is refused unless this node also passes ``allow_insecure``:
    the server alone cannot talk a node into it.
    """

    def mod(msg: Message, context: Context, call_next: Handler) -> Message:
        if msg.metadata.message_type.split(".")[0] != "train":
            return call_next(msg, context)
        payload = _payload(msg)
        store = store_for(context, state_dir)
        if payload.stage == stages.TRAIN:
            return _train(msg, context, call_next, payload, store, allow_insecure)
        if payload.stage == stages.ABORT:
            store.clear()
            return Message(pack(stages.ABORT, payload.round, b""), reply_to=msg)
        if payload.stage in stages.PROTOCOL:
            return _step(msg, payload, store)
        raise FlowerPayloadError(f"{RECORD}.stage", f"unknown stage {payload.stage!r}")

    mod.__name__ = mod.__qualname__ = "prism_secagg_mod"
    return mod


def _payload(msg: Message) -> Payload:
    if RECORD not in msg.content.config_records:
        raise FlowerPayloadError(
            RECORD,
            "a train message without prism-secure's setup: answering it would send this "
            "node's update in the clear, so it is refused (wrap the server's Grid in SecAggGrid)",
        )
    return unpack(msg.content)


def _train(
    msg: Message,
    context: Context,
    call_next: Handler,
    payload: Payload,
    store: StateStore,
    allow_insecure: bool,
) -> Message:
    """Train, check, quantise, advertise keys; the reply holds our record alone."""
    setup = RoundSetup.from_fields(payload.fields)
    if setup.session.insecure and not allow_insecure:
        raise FlowerPayloadError(
            "session.insecure",
            f"the server asks for threshold {setup.session.threshold}, under the split-view "
            "rule; this node accepts that only with prism_secagg_mod(allow_insecure=True)",
        )
    r = payload.round
    store.clear()  # whatever an earlier round left goes now
    digest = model_digest(msg.content.array_records.get(setup.model_key), setup)
    msg.content = without(msg.content, RECORD)
    reply = call_next(msg, context)
    if reply.has_error():
        return reply  # the user's training failed: an error reply carries no update
    try:
        arrays, weight = update_of(reply.content, setup)
        encoded = quantise(
            arrays,
            setup.layout,
            setup.quantise,
            clients=setup.session.clients,
            client=setup.client,
            num_examples=weight,  # type: ignore[arg-type]
        )
    except UpdateRefused as exc:
        log.warning("round %d: this node's update is refused: %s", r, exc)
        return Message(pack(stages.REFUSED, r, b"", **exc.report.to_record()), reply_to=msg)
    del arrays, reply
    client = SecAggClient(
        setup.client, encoded.vector, setup.session, round_index=r, model_digest=digest
    )
    advertise = client.start()
    store.save(r, client.export_state())
    return Message(pack(stages.TRAIN, r, advertise), reply_to=msg)


def _step(msg: Message, payload: Payload, store: StateStore) -> Message:
    """One protocol step of the saved client; its reply (empty when it has none to send)."""
    r = payload.round
    blob = store.load(r)
    if blob is None:
        raise ClientStateMissing(r)
    client = SecAggClient.from_state(blob)
    try:
        replies = client.receive(payload.data)
    except ProtocolViolation as exc:  # refused: this client aborts and tells the server why
        log.warning("round %d: this node left the secure round: %s", r, exc)
        store.clear()
        data = exc.abort_message or b""
    except AbortedError as exc:
        log.warning("round %d: the secure round stopped: %s", r, exc)
        store.clear()
        data = b""
    except SecAggError as exc:  # bad bytes, a replay: dropped, the client is as it was
        log.warning("round %d: a protocol message was ignored: %s", r, exc)
        data = b""
    else:
        if client.holds_secrets:
            store.save(r, client.export_state())
        else:
            store.clear()
        data = replies[0] if replies else b""
    return Message(pack(payload.stage, r, data), reply_to=msg)
