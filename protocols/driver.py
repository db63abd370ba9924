"""Run one secure sum in-process: real client and server state machines, only bytes between them.

This is what the training engine calls. Every byte a client sends or receives is counted; the
server object only ever receives bytes, so it holds no plaintext input. A client that refuses a
message sends its ``ClientAbort`` to the server, which drops it like a dropout.
"""

from __future__ import annotations

import statistics
import time
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from prism_secure.protocols.client import SecAggClient
from prism_secure.protocols.errors import AbortedError, SecAggError
from prism_secure.protocols.params import (
    SessionParams,
    count_bits,
    default_neighbours,
    min_threshold,
)
from prism_secure.protocols.server import PHASES, SecAggServer


def phase_names() -> list[str]:
    """Phases at which a client can vanish, in protocol order (keys of ``dropouts``)."""
    return list(PHASES)


class SecureSumResult(BaseModel):
    """The sum over survivors and what it cost; ``transcript`` is the server's view, if asked."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)
    total: np.ndarray
    survivors: list[int]
    bits: int
    bytes_up_per_client: dict[int, int]
    bytes_down_per_client: dict[int, int]
    client_seconds: float  # median over clients that stayed, of each one's total compute
    client_seconds_max: float
    client_masking_seconds: float  # median time to build the masked vector (keystream-bound part)
    server_seconds: float
    transcript: dict[int, np.ndarray] | None = None
    client_aborts: dict[int, str] = {}  # clients that refused a message, and why


def resolve_params(
    inputs: dict[int, np.ndarray],
    *,
    bits: int | None,
    threshold: int | None,
    graph: Literal["full", "sparse"],
    neighbours: int | None,
) -> SessionParams:
    """Session parameters for these inputs; ``bits=None`` needs 0/1 inputs.

    The cohort size is the number of inputs; ``threshold=None`` takes the smallest secure t.
    """
    if not inputs:
        raise ValueError("inputs is empty")
    lengths = {int(np.asarray(v).shape[0]) for v in inputs.values()}
    if len(lengths) != 1:
        raise ValueError(f"inputs must have equal lengths, got {sorted(lengths)}")
    n = len(inputs)
    if bits is None:
        for cid, v in inputs.items():
            v = np.asarray(v)
            if v.size and (v.min() < 0 or v.max() > 1):
                raise ValueError(
                    f"bits=None needs 0/1 inputs; client {cid} has values outside {{0, 1}}"
                )
        bits = count_bits(n)
    if graph == "sparse" and neighbours is None:
        neighbours = default_neighbours(n)
    k = neighbours if graph == "sparse" else None
    if threshold is None:
        threshold = min_threshold(graph, n, k)
    return SessionParams(
        threshold=threshold, bits=bits, length=lengths.pop(), clients=n, graph=graph, neighbours=k
    )


def run_secure_sum(
    inputs: dict[int, np.ndarray],
    *,
    bits: int | None = None,
    threshold: int | None = None,
    graph: Literal["full", "sparse"] = "full",
    neighbours: int | None = None,
    round_index: int,
    model_digest: bytes,
    dropouts: dict[int, str] | None = None,
    record_transcript: bool = False,
    prg: Literal["aes-ctr", "chacha20"] = "aes-ctr",
    aead: Literal["aes-gcm", "chacha20-poly1305"] = "aes-gcm",
) -> SecureSumResult:
    """Securely sum ``inputs`` (client id -> integer vector); see the module docstring.

    ``dropouts`` maps a client id to the phase (one of :func:`phase_names`) whose message it never
    sends. Fewer than ``threshold`` clients left at any phase raises :class:`AbortedError`;
    ``threshold=None`` takes the smallest that the security rule allows (2t > n, or 2t > k).
    """
    params = resolve_params(
        inputs, bits=bits, threshold=threshold, graph=graph, neighbours=neighbours
    )
    params = params.model_copy(update={"prg": prg, "aead": aead})
    dropouts = dict(dropouts or {})
    for cid, phase in dropouts.items():
        if phase not in PHASES:
            raise ValueError(f"dropouts[{cid}]: unknown phase {phase!r}; use one of {PHASES}")
        if cid not in inputs:
            raise ValueError(f"dropouts names client {cid}, which has no input")

    ids = sorted(int(c) for c in inputs)
    up = dict.fromkeys(ids, 0)
    down = dict.fromkeys(ids, 0)
    cpu = dict.fromkeys(ids, 0.0)
    masking = dict.fromkeys(ids, 0.0)
    clients: dict[int, SecAggClient] = {}
    for cid in ids:
        start = time.perf_counter()
        clients[cid] = SecAggClient(
            cid, inputs[cid], params, round_index=round_index, model_digest=model_digest
        )
        cpu[cid] += time.perf_counter() - start
    server = SecAggServer(
        params,
        round_index=round_index,
        model_digest=model_digest,
        clients=ids,
        record_transcript=record_transcript,
    )
    gone: set[int] = set()

    def send(cid: int, data: bytes) -> None:
        up[cid] += len(data)
        server.receive(cid, data)

    # Phase 0: every client that does not drop here advertises its keys.
    for cid in ids:
        if dropouts.get(cid) == PHASES[0]:
            gone.add(cid)
            continue
        start = time.perf_counter()
        data = clients[cid].start()
        cpu[cid] += time.perf_counter() - start
        send(cid, data)

    for phase_index in range(len(PHASES)):
        outgoing = server.advance()
        next_phase = PHASES[phase_index + 1] if phase_index + 1 < len(PHASES) else None
        for cid, data in outgoing:
            if cid in gone:
                continue
            down[cid] += len(data)
            start = time.perf_counter()
            try:
                replies = clients[cid].receive(data)
            except SecAggError as exc:  # a refusal: forward its ClientAbort, if it has one
                replies = [exc.abort_message] if exc.abort_message else []
                gone.add(cid)
            spent = time.perf_counter() - start
            cpu[cid] += spent
            if next_phase == "masked":
                masking[cid] = clients[cid].masking_seconds
            if next_phase is not None and dropouts.get(cid) == next_phase:
                gone.add(cid)
                continue
            for reply in replies:
                send(cid, reply)
        if server.aborted is not None:
            raise server.aborted

    result = server.result()
    stayed = [c for c in ids if c not in dropouts] or ids
    times = [cpu[c] for c in stayed]
    return SecureSumResult(
        total=result.total,
        survivors=result.survivors,
        bits=params.bits,
        bytes_up_per_client=up,
        bytes_down_per_client=down,
        client_seconds=statistics.median(times),
        client_seconds_max=max(times),
        client_masking_seconds=statistics.median(masking[c] for c in stayed),
        server_seconds=sum(server.seconds.values()),
        transcript=result.transcript,
        client_aborts=dict(server.client_aborts),
    )


__all__ = ["AbortedError", "SecureSumResult", "phase_names", "resolve_params", "run_secure_sum"]
