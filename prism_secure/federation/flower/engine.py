"""The Flower engine: the same round as in-process, carried by Flower messages between processes.

Each round: the chosen sites get the global scores and train (the ``train`` exchange, which
also returns each site's AdvertiseKeys), then the SecAgg server's messages go out one exchange
per phase. A site that errs, or misses a phase's deadline, is a dropout at that phase; below the
threshold the round aborts, releasing nothing and leaving the model as it was.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from pydantic import ValidationError

from prism_secure.config import RunConfig
from prism_secure.federation.broadcast import round_broadcast
from prism_secure.federation.engine import (
    Engine,
    RoundCosts,
    RoundReport,
    aborted_record,
    completed_record,
)
from prism_secure.federation.flower import stages
from prism_secure.federation.flower.nodes import NodeMap
from prism_secure.federation.seeds import model_digest
from prism_secure.federation.selection import participants
from prism_secure.federation.server import Server
from prism_secure.federation.summers.base import SumOutcome
from prism_secure.federation.summers.factory import planned_dropout
from prism_secure.federation.summers.policy import chosen_parameters
from prism_secure.privacy import ClientPrivacyRecord
from prism_secure.protocols import SecAggServer, SessionParams, count_bits
from prism_secure.protocols.adapters.flower.transport import (
    Exchange,
    FlowerPayloadError,
    exchange,
    pack,
    unpack,
)
from prism_secure.protocols.errors import AbortedError, SecAggError


@dataclass
class _RoundLog:
    """What one round moved and how long each exchange took, by client id."""

    flower_up: dict[int, int] = field(default_factory=dict)
    flower_down: dict[int, int] = field(default_factory=dict)
    protocol_up: dict[int, int] = field(default_factory=dict)
    protocol_down: dict[int, int] = field(default_factory=dict)
    phase_seconds: dict[str, float] = field(default_factory=dict)
    node_errors: dict[str, str] = field(default_factory=dict)

    def add(self, stage: str, result: Exchange, to_cid: dict[int, int]) -> None:
        self.phase_seconds[stage] = round(result.seconds, 3)
        for node, n in result.bytes_down.items():
            cid = to_cid[node]
            self.flower_down[cid] = self.flower_down.get(cid, 0) + n
        for node, n in result.bytes_up.items():
            cid = to_cid[node]
            self.flower_up[cid] = self.flower_up.get(cid, 0) + n
        for node, reason in result.errors.items():
            self.node_errors[f"{stage}:{to_cid[node]}"] = reason


def session_params(cfg: RunConfig, invited: int, length: int) -> SessionParams:
    """The round's SecAgg parameters, as the in-process pairwise summer chooses them."""
    chosen = chosen_parameters(cfg.secure_agg, invited, planned_dropout(cfg))
    graph = cfg.secure_agg.graph
    return SessionParams(
        threshold=int(chosen["threshold"]),  # type: ignore[call-overload]
        bits=count_bits(invited),
        length=length,
        clients=invited,
        graph=graph,
        neighbours=chosen["neighbours"] if graph == "sparse" else None,  # type: ignore[arg-type]
    )


class FlowerEngine(Engine):
    """Rounds over a Flower :class:`~flwr.serverapp.Grid`; sites are named by partition id."""

    def __init__(
        self,
        cfg: RunConfig,
        grid: object,
        server: Server,
        nodes: NodeMap,
        run_key: str,
        records: dict[int, ClientPrivacyRecord],
    ) -> None:
        self.cfg, self.grid, self.server, self.nodes = cfg, grid, server, nodes
        self.run_key, self.records = run_key, records
        self.totals = {"bytes_up": 0, "bytes_down": 0, "flower_bytes_up": 0, "flower_bytes_down": 0}
        fl = cfg.flower
        self.train_deadline, self.phase_deadline, self.poll = (
            fl.train_timeout,
            fl.phase_timeout,
            fl.poll_interval,
        )

    @property
    def cohort(self) -> int:
        return self.cfg.partition.num_clients

    def _exchange(self, stage: str, msg_type: str, contents: dict[int, object], r: int) -> Exchange:
        deadline = self.train_deadline if stage == stages.TRAIN else self.phase_deadline
        return exchange(
            self.grid,
            contents,  # type: ignore[arg-type]
            message_type=msg_type,
            group_id=str(r),
            deadline=deadline,
            poll=self.poll,
        )

    def _train(
        self, r: int, chosen: list[int], params: SessionParams, log: _RoundLog, on_client
    ) -> tuple[dict[int, bytes], list[float]]:
        """The train exchange: scores out; each site's AdvertiseKeys, loss and record back."""
        held, scores = round_broadcast(self.cfg, self.server.scores, r)
        self.server.scores = held  # the server keeps exactly what the sites decode
        config_json = self.cfg.model_dump_json()
        present = {c: self.nodes.node_of(c) for c in chosen if self.nodes.node_of(c) is not None}
        contents = {
            node: pack(
                stages.TRAIN,
                r,
                scores,
                run_key=self.run_key,
                config=config_json,
                session=params.model_dump_json(),
                prior_releases=self.records[c].num_releases if c in self.records else 0,
            )
            for c, node in present.items()
        }
        to_cid = {node: c for c, node in present.items()}
        result = self._exchange(stages.TRAIN, stages.TRAIN_TYPE, contents, r)
        log.add(stages.TRAIN, result, to_cid)
        advertised, losses = {}, []
        for node, reply in result.replies.items():
            cid = to_cid[node]
            try:
                payload = unpack(reply.content, stage=stages.TRAIN, round_index=r)
                record = ClientPrivacyRecord.model_validate_json(str(payload.fields["record"]))
                loss = float(payload.fields["loss"])  # type: ignore[arg-type]
                if payload.fields.get("partition") != cid:
                    raise FlowerPayloadError("partition", "answers for another partition")
            except (FlowerPayloadError, ValidationError, KeyError, TypeError, ValueError) as exc:
                log.node_errors[f"train:{cid}"] = f"malformed reply: {exc}"
                continue
            advertised[cid], self.records[cid] = payload.data, record
            losses.append(loss)
            log.protocol_up[cid] = log.protocol_up.get(cid, 0) + len(payload.data)
            log.protocol_down[cid] = log.protocol_down.get(cid, 0) + len(scores)
            if on_client:
                on_client(cid)
        return advertised, losses

    def _phase(self, r: int, stage: str, outgoing: list[tuple[int, bytes]], log: _RoundLog):
        """One protocol exchange: the server's messages out, the replies (cid -> bytes) back."""
        present = {c: self.nodes.node_of(c) for c, _ in outgoing}
        contents = {
            present[c]: pack(stage, r, data, run_key=self.run_key)
            for c, data in outgoing
            if present[c] is not None
        }
        to_cid = {node: c for c, node in present.items() if node is not None}
        for c, data in outgoing:
            log.protocol_down[c] = log.protocol_down.get(c, 0) + len(data)
        result = self._exchange(stage, stages.SECAGG_TYPE, contents, r)
        log.add(stage, result, to_cid)
        replies = {}
        for node, reply in result.replies.items():
            cid = to_cid[node]
            try:
                payload = unpack(reply.content, stage=stage, round_index=r)
            except FlowerPayloadError as exc:
                log.node_errors[f"{stage}:{cid}"] = f"malformed reply: {exc}"
                continue
            if payload.data:
                replies[cid] = payload.data
                log.protocol_up[cid] = log.protocol_up.get(cid, 0) + len(payload.data)
        return replies

    def _secure_sum(
        self,
        r: int,
        chosen: list[int],
        params: SessionParams,
        advertised: dict[int, bytes],
        log: _RoundLog,
    ) -> SumOutcome:
        start = time.perf_counter()
        digest = model_digest(self.server.scores, r)
        server = SecAggServer(params, round_index=r, model_digest=digest, clients=chosen)
        self._feed(server, advertised, log, "advertise")
        for stage in stages.SECAGG_STAGES:
            outgoing = server.advance()
            if server.aborted is not None:
                self._push_aborts(r, [c for c, _ in outgoing])
                raise server.aborted
            self._feed(server, self._phase(r, stage, outgoing, log), log, stage)
        server.advance()  # close the unmask phase
        if server.aborted is not None:
            raise server.aborted
        result = server.result()
        return SumOutcome(
            counts=np.asarray(result.total, dtype=np.int64),
            survivors=sorted(result.survivors),
            bytes_up=dict(log.protocol_up),
            bytes_down=dict(log.protocol_down),
            seconds=time.perf_counter() - start,
            server_seconds=sum(server.seconds.values()),
            bits=params.bits,
        )

    @staticmethod
    def _feed(server: SecAggServer, replies: dict[int, bytes], log: _RoundLog, stage: str) -> None:
        for cid, data in sorted(replies.items()):
            try:
                server.receive(cid, data)
            except SecAggError as exc:  # refused: that client is out of this phase
                log.node_errors[f"{stage}:{cid}"] = f"{type(exc).__name__}: {exc}"

    def _push_aborts(self, r: int, cids: list[int]) -> None:
        """Tell the sites the round stopped (they drop its state); no reply is awaited."""
        nodes = [self.nodes.node_of(c) for c in cids]
        contents = {n: pack(stages.ABORT, r, b"", run_key=self.run_key) for n in nodes if n}
        if contents:
            exchange(
                self.grid, contents, message_type=stages.SECAGG_TYPE, group_id=str(r), deadline=0
            )

    def run_round(
        self, round_index: int, on_client: Callable[[int], None] | None = None
    ) -> RoundReport:
        t0 = time.perf_counter()
        self.nodes.refresh()
        r, scores = round_index, self.server.scores
        chosen = participants(self.cfg, r, list(range(self.cohort)))
        params = session_params(self.cfg, len(chosen), scores.numel())
        log = _RoundLog()
        advertised, losses = self._train(r, chosen, params, log, on_client)
        t_train = time.perf_counter() - t0
        loss = float(np.mean(losses)) if losses else float("nan")
        gone = len(chosen) - len(advertised)
        try:
            outcome = self._secure_sum(r, chosen, params, advertised, log)
        except AbortedError as exc:
            warnings.warn(f"round {r}: secure aggregation aborted: {exc}", stacklevel=2)
            record = aborted_record(r, len(chosen), gone, str(exc), loss, time.perf_counter() - t0)
            record.update(self._extra(log))
            return RoundReport(record, scores)
        info = self.server.update(outcome)
        self._count(log)
        costs = RoundCosts(
            log.protocol_up, log.protocol_down, t_train, time.perf_counter() - t0, self._extra(log)
        )
        dropped = len(chosen) - len(outcome.survivors)
        record = completed_record(
            r, len(chosen), dropped, outcome, info, loss, self.server.scores, False, costs
        )
        return RoundReport(record, self.server.scores)

    def _count(self, log: _RoundLog) -> None:
        self.totals["bytes_up"] += sum(log.protocol_up.values())
        self.totals["bytes_down"] += sum(log.protocol_down.values())
        self.totals["flower_bytes_up"] += sum(log.flower_up.values())
        self.totals["flower_bytes_down"] += sum(log.flower_down.values())

    @staticmethod
    def _extra(log: _RoundLog) -> dict[str, object]:
        """Flower's own byte counts per client, each exchange's wall time, sites' errors."""

        def mean(values: dict[int, int]) -> float:
            return float(np.mean(list(values.values()))) if values else 0.0

        return {
            "flower_bytes_up_per_client": mean(log.flower_up),
            "flower_bytes_down_per_client": mean(log.flower_down),
            "phase_seconds": dict(log.phase_seconds),
            "node_errors": dict(log.node_errors),
        }
