"""Before a secure round's first message: the cohort, layout, grid, threshold and session.

Decided once from the strategy's train messages and the server's :class:`SecAggConfig`; every
node gets the same setup but for its own client id (:func:`~.round_report.client_ids`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from flwr.app import ArrayRecord, Message

from prism_secure.errors import ConfigError
from prism_secure.protocols import SessionParams
from prism_secure.protocols.adapters.flower.errors import RoundSetupError
from prism_secure.protocols.adapters.flower.formats import record_arrays
from prism_secure.protocols.adapters.flower.layout import ArrayLayout
from prism_secure.protocols.adapters.flower.policy import choose_params
from prism_secure.protocols.adapters.flower.quantise_config import (
    QuantiseConfig,
    finest_levels,
    plan_vector,
)
from prism_secure.protocols.adapters.flower.round_report import SecureRound
from prism_secure.protocols.adapters.flower.round_setup import (
    LEGACY_IN,
    Format,
    RoundSetup,
    model_digest,
    record_digest,
)
from prism_secure.protocols.adapters.flower.server_config import SecAggConfig


@dataclass
class RoundPlan:
    """Everything decided before the first message goes out."""

    messages: dict[int, Message]  # node -> the strategy's train message
    setup: RoundSetup  # client id 0's; the others differ in ``client`` alone
    digest: bytes
    report: SecureRound


def plan_round(
    messages: Sequence[Message], config: SecAggConfig, round_index: int, fmt: Format
) -> RoundPlan:
    """The cohort, layout, grid, threshold and session of this round's messages."""
    by_node: dict[int, Message] = {}
    for m in messages:
        if m.metadata.dst_node_id in by_node:
            raise RoundSetupError("dst_node_id", f"two train messages for {m.metadata.dst_node_id}")
        by_node[m.metadata.dst_node_id] = m
    if len(by_node) < 2:
        raise RoundSetupError("messages", f"a secure sum needs 2 nodes or more, got {len(by_node)}")
    key = LEGACY_IN if fmt == "legacy" else config.array_key
    record = _one_model(list(by_node.values()), key)
    n = len(by_node)
    layout = config.layout or ArrayLayout.of(record_arrays(record, fmt))
    quantise = config.quantise
    if config.fit_bits is not None:
        quantise = _finest(quantise, layout, n, config.fit_bits)
    chosen = choose_params(
        n,
        config.dropout,
        threshold=config.threshold,
        graph=config.graph,
        neighbours=config.neighbours,
        stall_target=config.stall_target,
        allow_insecure=config.allow_insecure,
    )
    vector = plan_vector(quantise, layout, n)
    session = SessionParams(
        bits=vector.bits,
        length=vector.length,
        clients=n,
        insecure=not chosen.secure,  # only allow_insecure lets insecure ones get this far
        **chosen.session_kwargs(),  # type: ignore[arg-type]
    )
    setup = RoundSetup(
        client=0,
        session=session,
        layout=layout,
        quantise=quantise,
        format=fmt,
        array_key=config.array_key,
        weight_key=config.weight_key,
    )
    nodes = sorted(by_node)
    report = SecureRound(round=round_index, nodes=nodes, params=chosen, session=session)
    return RoundPlan(by_node, setup, model_digest(record, setup), report)


def _finest(quantise: QuantiseConfig, layout: ArrayLayout, n: int, bits: int) -> QuantiseConfig:
    """The finest grid within ``bits`` bits; the given one when nothing fits (a wide integer
    range): a larger modulus then, never a silent wrap."""
    try:
        return finest_levels(quantise, layout, n, bits=bits)
    except ConfigError:
        return quantise


def _one_model(messages: list[Message], key: str) -> ArrayRecord:
    """The one global model every node is sent (a secure sum of updates of different models
    means nothing, and their clients would not share a session)."""
    records = [m.content.array_records.get(key) for m in messages]
    if any(r is None for r in records):
        raise RoundSetupError(key, "a train message holds no ArrayRecord of this name")
    distinct = {id(r): r for r in records}
    if len(distinct) > 1 and len({record_digest(r) for r in distinct.values()}) > 1:
        raise RoundSetupError(key, "the strategy sent different models to different nodes")
    return records[0]  # type: ignore[return-value]
