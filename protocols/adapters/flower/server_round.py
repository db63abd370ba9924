"""One secure round over a Flower Grid: the strategy's train messages in, a :class:`SecureRound`
out.

The train exchange carries the strategy's own content plus our setup and returns each node's
AdvertiseKeys (or a refusal report); then one exchange per protocol phase, each with its deadline
(:func:`~.transport.exchange`). A node that errs, sends a refusal, aborts or misses a deadline
drops out at that phase; below the threshold the round stops, the nodes still in are told to
forget it, and nothing is released. Replies are hostile: each is unpacked and checked, and the
protocol server refuses anything an honest client would not send.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from flwr.app import Message, RecordDict

from prism_secure.protocols import SecAggServer
from prism_secure.protocols.adapters.flower import stages
from prism_secure.protocols.adapters.flower.errors import (
    AggregateError,
    RefusalReport,
    ReportError,
)
from prism_secure.protocols.adapters.flower.formats import without
from prism_secure.protocols.adapters.flower.quantise import dequantise_sum
from prism_secure.protocols.adapters.flower.round_plan import RoundPlan, plan_round
from prism_secure.protocols.adapters.flower.round_report import SecureRound, client_ids
from prism_secure.protocols.adapters.flower.round_setup import Format
from prism_secure.protocols.adapters.flower.server_config import SecAggConfig
from prism_secure.protocols.adapters.flower.transport import (
    RECORD,
    Exchange,
    FlowerPayloadError,
    exchange,
    pack,
    unpack,
)
from prism_secure.protocols.errors import SecAggError
from prism_secure.protocols.secagg.server import PHASES


class _Round:
    """The exchanges of one planned round."""

    def __init__(self, grid: object, config: SecAggConfig, plan: RoundPlan) -> None:
        self.grid, self.config, self.plan, self.report = grid, config, plan, plan.report
        self.r = plan.report.round
        self.cid_of = client_ids(plan.messages)
        self.node_of = {c: n for n, c in self.cid_of.items()}
        first = next(iter(plan.messages.values())).metadata
        self.message_type, self.group_id = first.message_type, first.group_id or str(self.r)
        self.server = SecAggServer(
            plan.setup.session,
            round_index=self.r,
            model_digest=plan.digest,
            clients=sorted(self.node_of),
        )
        self.answered: dict[str, set[int]] = {}

    def run(self) -> SecureRound:
        self._feed("advertise", self._train())
        for stage in stages.PROTOCOL:
            outgoing = self.server.advance()
            if self.server.aborted is not None:
                return self._stop(outgoing)
            self._feed(stage, self._phase(stage, outgoing))
        closing = self.server.advance()
        if self.server.aborted is not None:
            return self._stop(closing)
        return self._finish()

    def _exchange(self, stage: str, contents: dict[int, RecordDict], deadline: float) -> Exchange:
        result = exchange(
            self.grid,
            contents,
            message_type=self.message_type,
            group_id=self.group_id,
            deadline=deadline,
            poll=self.config.poll,
        )
        self.report.phase_seconds[stages.PHASE_OF.get(stage, stage)] = round(result.seconds, 4)
        for node, size in result.bytes_down.items():
            self.report.bytes_down[node] = self.report.bytes_down.get(node, 0) + size
        for node, size in result.bytes_up.items():
            self.report.bytes_up[node] = self.report.bytes_up.get(node, 0) + size
        for node, reason in result.errors.items():
            self._error(node, stage, reason)
        for node in result.missing:
            self._error(node, stage, f"no reply within {deadline:g} s")
        return result

    def _train(self) -> dict[int, bytes]:
        """The strategy's content plus each node's setup; AdvertiseKeys (or refusals) back."""
        contents = {}
        for node, msg in self.plan.messages.items():
            setup = self.plan.setup.model_copy(update={"client": self.cid_of[node]})
            content = without(msg.content, RECORD)
            content[RECORD] = pack(stages.TRAIN, self.r, b"", **setup.to_fields())[RECORD]
            contents[node] = content
        result = self._exchange(stages.TRAIN, contents, self.config.train_timeout)
        advertised = {}
        for node, reply in result.replies.items():
            try:
                payload = unpack(reply.content, round_index=self.r)
                if payload.stage == stages.REFUSED:
                    self._refused(node, RefusalReport.from_record(payload.fields))
                elif payload.stage == stages.TRAIN:
                    advertised[self.cid_of[node]] = payload.data
                else:
                    raise FlowerPayloadError("stage", f"{payload.stage!r} answers a train message")
            except (FlowerPayloadError, ReportError) as exc:
                self._error(node, stages.TRAIN, f"malformed reply: {exc}")
        return advertised

    def _refused(self, node: int, report: RefusalReport) -> None:
        self.report.refused[node] = report
        who = "" if report.client == self.cid_of[node] else f" (it names client {report.client})"
        self._error(node, stages.TRAIN, f"update refused{who}: {report.reason} {report.array!r}")

    def _phase(self, stage: str, outgoing: list[tuple[int, bytes]]) -> dict[int, bytes]:
        contents = {self.node_of[c]: pack(stage, self.r, data) for c, data in outgoing}
        result = self._exchange(stage, contents, self.config.phase_timeout)
        replies = {}
        for node, reply in result.replies.items():
            try:
                payload = unpack(reply.content, stage=stage, round_index=self.r)
            except FlowerPayloadError as exc:
                self._error(node, stage, f"malformed reply: {exc}")
                continue
            if payload.data:
                replies[self.cid_of[node]] = payload.data
            else:
                self._error(node, stage, "answered without a protocol message")
        return replies

    def _feed(self, phase: str, replies: dict[int, bytes]) -> None:
        got = self.answered.setdefault(phase, set())
        for cid, data in sorted(replies.items()):
            try:
                self.server.receive(cid, data)
            except SecAggError as exc:  # refused: that client is out of this phase
                self._error(self.node_of[cid], phase, f"{type(exc).__name__}: {exc}")
                continue
            if cid in self.server.client_aborts:
                self._error(self.node_of[cid], phase, f"left: {self.server.client_aborts[cid]}")
            else:
                got.add(cid)

    def _error(self, node: int, stage: str, reason: str) -> None:
        self.report.errors.setdefault(node, f"{stages.PHASE_OF.get(stage, stage)}: {reason}")

    def _stop(self, aborts: list[tuple[int, bytes]]) -> SecureRound:
        err = self.server.aborted
        assert err is not None
        self.report.aborted, self.report.abort_phase = err.reason, err.phase
        self._dropouts()
        self._forget({self.node_of[c] for c, _ in aborts} | set(self.report.dropped))
        return self.report

    def _finish(self) -> SecureRound:
        result = self.server.result()
        start = time.perf_counter()
        setup = self.plan.setup
        try:
            agg = dequantise_sum(
                result.total,
                setup.layout,
                setup.quantise,
                clients=setup.session.clients,
                survivors=len(result.survivors),
            )
        except AggregateError as exc:  # only a client that sent an invalid encoding does this
            self.report.aborted, self.report.abort_phase = f"invalid aggregate: {exc}", "unmask"
            self._dropouts()
            return self.report
        self.report.server_seconds = sum(self.server.seconds.values()) + (
            time.perf_counter() - start
        )
        self.report.aggregate = agg
        self.report.survivors = sorted(self.node_of[c] for c in result.survivors)
        self._dropouts()
        self._forget(set(self.report.dropped))
        return self.report

    def _dropouts(self) -> None:
        """The phase each node left at: the first one it did not answer."""
        alive = set(self.node_of)
        for phase in PHASES:
            if phase not in self.answered:
                break
            for cid in sorted(alive - self.answered[phase]):
                self.report.dropped[self.node_of[cid]] = phase
            alive &= self.answered[phase]

    def _forget(self, nodes: set[int]) -> None:
        """Tell nodes that may still hold this round's state to drop it; no reply is awaited.
        (A node that refused its update saved nothing.)"""
        keep = set(self.report.refused)
        contents = {node: pack(stages.ABORT, self.r, b"") for node in sorted(nodes - keep)}
        if contents:
            exchange(
                self.grid,
                contents,
                message_type=self.message_type,
                group_id=self.group_id,
                deadline=0.0,
            )


def secure_round(
    grid: object,
    messages: Sequence[Message],
    config: SecAggConfig,
    *,
    round_index: int,
    fmt: Format = "message",
) -> SecureRound:
    """Run one secure round for the strategy's train ``messages`` over ``grid``."""
    plan = plan_round(messages, config, round_index, fmt)
    return _Round(grid, config, plan).run()
