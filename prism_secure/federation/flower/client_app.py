"""The PRISM ClientApp: one handler per kind of exchange; torch loads only for training.

Flower starts a fresh process for every message, so this module imports nothing heavy: the
protocol steps need numpy and cryptography only. Every payload is checked before use
(:func:`~prism_secure.protocols.adapters.flower.transport.unpack`); a bad one raises a typed
error, which Flower returns to the server as an error reply and the server treats as a dropout.
"""

from __future__ import annotations

from flwr.app import Context, Message
from flwr.clientapp import ClientApp

from prism_secure.federation.flower import stages
from prism_secure.federation.flower.site import read_site
from prism_secure.federation.flower.site_round import (
    forget_round,
    protocol_step,
    train_and_advertise,
)
from prism_secure.protocols.adapters.flower.transport import FlowerPayloadError, pack, unpack

app = ClientApp()


def _text(payload_fields: dict[str, object], name: str) -> str:
    value = payload_fields.get(name)
    if not isinstance(value, str):
        raise FlowerPayloadError(name, "missing or not a string")
    return value


def _int(payload_fields: dict[str, object], name: str) -> int:
    value = payload_fields.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FlowerPayloadError(name, "missing or not a non-negative integer")
    return value


@app.query(stages.HELLO)
def hello(msg: Message, context: Context) -> Message:
    """Say which partition this site serves, after checking its node config and folders."""
    unpack(msg.content, stage=stages.HELLO)
    site = read_site(context.node_config, context.node_id)
    reply = pack(stages.HELLO, 0, b"", partition=site.partition_id, partitions=site.num_partitions)
    return Message(reply, reply_to=msg)


@app.train()
def train(msg: Message, context: Context) -> Message:
    """Local training from the global scores, then this round's AdvertiseKeys."""
    payload = unpack(msg.content, stage=stages.TRAIN)
    site = read_site(context.node_config, context.node_id)
    out = train_and_advertise(
        site,
        _text(payload.fields, "run_key"),
        payload.round,
        _text(payload.fields, "config"),
        _text(payload.fields, "session"),
        payload.data,
        _int(payload.fields, "prior_releases"),
    )
    reply = pack(
        stages.TRAIN,
        payload.round,
        out.advertise,
        partition=site.partition_id,
        loss=float(out.loss),
        record=out.record_json,
    )
    return Message(reply, reply_to=msg)


@app.train("secagg")
def secagg(msg: Message, context: Context) -> Message:
    """One protocol step of this round's SecAgg client (or, on abort, forgetting it)."""
    payload = unpack(msg.content)
    site = read_site(context.node_config, context.node_id)
    key = _text(payload.fields, "run_key")
    if payload.stage == stages.ABORT:
        forget_round(site, key, payload.round)
        return Message(pack(stages.ABORT, payload.round, b""), reply_to=msg)
    if payload.stage not in stages.SECAGG_STAGES:
        raise FlowerPayloadError("stage", f"unknown protocol stage {payload.stage!r}")
    data = protocol_step(site, key, payload.round, payload.data)
    return Message(pack(payload.stage, payload.round, data), reply_to=msg)
