"""Run one secure sum in-process: real client and server state machines, only bytes between them.

This is what the training engine calls. Every byte a client sends or receives is counted; the
server object only ever receives bytes, so it holds no plaintext input. A client that refuses a
message sends its ``ClientAbort`` to the server, which drops it like a dropout.
"""

from __future__ import annotations

import statistics
from typing import Literal

import numpy as np

from prism_secure.protocols.errors import AbortedError, SecAggError
from prism_secure.protocols.inprocess import Meter, check_dropouts
from prism_secure.protocols.result import SecAggDetails, SecureSumResult
from prism_secure.protocols.secagg.client import SecAggClient
from prism_secure.protocols.secagg.params import (
    SessionParams,
    count_bits,
    default_neighbours,
    min_threshold,
)
from prism_secure.protocols.secagg.server import PHASES, SecAggServer


def phase_names() -> list[str]:
    """Phases at which a client can vanish, in protocol order (keys of ``dropouts``)."""
    return list(PHASES)


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
    dropouts = check_dropouts(dropouts, inputs, PHASES)
    ids = sorted(int(c) for c in inputs)
    meter = Meter(ids)
    clients: dict[int, SecAggClient] = {}
    for cid in ids:
        with meter.compute(cid):
            clients[cid] = SecAggClient(
                cid, inputs[cid], params, round_index=round_index, model_digest=model_digest
            )
    server = SecAggServer(
        params,
        round_index=round_index,
        model_digest=model_digest,
        clients=ids,
        record_transcript=record_transcript,
    )
    masking = Relay(server, clients, meter, dropouts).run()
    return _result(server, params, meter, masking, [c for c in ids if c not in dropouts] or ids)


class Relay:
    """Carries every message between the clients and the server, phase by phase, counting bytes
    and compute, and letting each client vanish where ``dropouts`` says."""

    def __init__(
        self,
        server: SecAggServer,
        clients: dict[int, SecAggClient],
        meter: Meter,
        dropouts: dict[int, str],
    ) -> None:
        self.server, self.clients, self.meter, self.dropouts = server, clients, meter, dropouts
        self.gone: set[int] = set()
        self.masking = dict.fromkeys(clients, 0.0)

    def run(self) -> dict[int, float]:
        """The whole round; each client's masking seconds. Raises the server's abort, if any."""
        for cid, client in self.clients.items():  # every client that stays advertises its keys
            if self.dropouts.get(cid) == PHASES[0]:
                self.gone.add(cid)
                continue
            with self.meter.compute(cid):
                data = client.start()
            self.server.receive(cid, self.meter.sent(cid, data))
        for i in range(len(PHASES)):
            outgoing = self.server.advance()
            replying = PHASES[i + 1] if i + 1 < len(PHASES) else None  # the phase replied to
            for cid, data in outgoing:
                if cid not in self.gone:
                    self.deliver(cid, data, replying)
            if self.server.aborted is not None:
                raise self.server.aborted
        return self.masking

    def deliver(self, cid: int, data: bytes, replying: str | None) -> None:
        """One server message to one client, and its replies (or its ClientAbort) back."""
        client = self.clients[cid]
        with self.meter.compute(cid):
            try:
                replies = client.receive(self.meter.received(cid, data))
            except SecAggError as exc:  # a refusal: forward its ClientAbort, if it has one
                replies = [exc.abort_message] if exc.abort_message else []
                self.gone.add(cid)
        if replying == "masked":
            self.masking[cid] = client.masking_seconds
        if replying is not None and self.dropouts.get(cid) == replying:
            self.gone.add(cid)
            return
        for reply in replies:
            self.server.receive(cid, self.meter.sent(cid, reply))


def _result(
    server: SecAggServer,
    params: SessionParams,
    meter: Meter,
    masking: dict[int, float],
    stayed: list[int],
) -> SecureSumResult:
    result = server.result()
    median, most = meter.client_seconds(stayed)
    return SecureSumResult(
        total=result.total,
        survivors=result.survivors,
        bytes_up_per_client=meter.up,
        bytes_down_per_client=meter.down,
        client_seconds=median,
        client_seconds_max=most,
        client_protect_seconds=statistics.median(masking[c] for c in stayed),
        server_seconds=sum(server.seconds.values()),
        transcript=result.transcript,
        client_aborts=dict(server.client_aborts),
        secagg=SecAggDetails(
            bits=params.bits,
            threshold=params.threshold,
            graph=params.graph,
            neighbours=params.degree,
        ),
    )


__all__ = [
    "AbortedError",
    "SecureSumResult",
    "phase_names",
    "resolve_params",
    "run_secure_sum",
]
