"""The server side: a Grid that turns a strategy's train round into a secure round.

Message API (``flwr.serverapp.strategy``), one line in the ServerApp::

    grid = SecAggGrid(grid, SecAggConfig(...))
    strategy.start(grid=grid, ...)  # FedAvg or any strategy that averages the replies

The strategy's train messages go out through :func:`~.server_round.secure_round`; the strategy
gets back **one** reply holding the survivors' weighted mean, weighted by their total weight (so
its weighted mean of the replies is that mean), plus an error reply for every node that dropped
out, naming the phase and the reason. Everything else (evaluate, query) passes through as is,
its replies asked for every 0.2 s rather than Flower's 3 s (:func:`~.transport.send_and_receive`).
``grid.rounds`` keeps each round's :class:`~.round_report.SecureRound`: the exact de-quantised
sums, the survivors, the dropouts and refusals, the clip count and the error bounds. Below the
threshold nothing is released: every reply is an error (the strategy keeps its model), or
:class:`~.errors.SecureRoundAborted` is raised with ``on_abort="raise"``.

Legacy (``DefaultWorkflow``): ``DefaultWorkflow(fit_workflow=SecAggFitWorkflow(config))`` runs
Flower's own fit round over a :class:`SecAggGrid` in the legacy format; the strategy's
``aggregate_fit`` gets one ``FitRes`` holding the mean and the total weight.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from flwr.app import Error, Message
from flwr.serverapp import Grid

from prism_secure.protocols.adapters.flower.errors import RoundSetupError, SecureRoundAborted
from prism_secure.protocols.adapters.flower.formats import aggregate_content
from prism_secure.protocols.adapters.flower.round_report import SecureRound
from prism_secure.protocols.adapters.flower.round_setup import Format
from prism_secure.protocols.adapters.flower.server_config import SecAggConfig
from prism_secure.protocols.adapters.flower.server_round import secure_round
from prism_secure.protocols.adapters.flower.transport import send_and_receive

log = logging.getLogger(__name__)
DROPOUT_CODE = 0  # Flower's ErrorCode.UNKNOWN: the reason says what happened


def is_train(message: Message) -> bool:
    return message.metadata.message_type.split(".")[0] == "train"


class SecAggGrid(Grid):
    """A Grid whose train rounds are secure rounds; see the module docstring."""

    def __init__(
        self, grid: Grid, config: SecAggConfig | None = None, *, fmt: Format = "message"
    ) -> None:
        self.grid, self.config, self.fmt = grid, config or SecAggConfig(), fmt
        self.rounds: list[SecureRound] = []

    @property
    def last(self) -> SecureRound | None:
        return self.rounds[-1] if self.rounds else None

    # ---- the Grid, delegated -------------------------------------------------------------------

    def set_run(self, run: object) -> None:
        self.grid.set_run(run)  # type: ignore[arg-type]

    @property
    def run(self) -> object:  # type: ignore[override]
        return self.grid.run

    def create_message(self, *args: object, **kwargs: object) -> Message:  # type: ignore[override]
        return self.grid.create_message(*args, **kwargs)  # type: ignore[arg-type]

    def get_node_ids(self) -> Iterable[int]:
        return self.grid.get_node_ids()

    def get_nodes(self) -> Iterable[object]:  # type: ignore[override]
        return self.grid.get_nodes()

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        messages = list(messages)
        if any(is_train(m) for m in messages):
            raise RoundSetupError(
                "push_messages",
                "train messages go through send_and_receive, which aggregates them securely",
            )
        return self.grid.push_messages(messages)

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        return self.grid.pull_messages(message_ids)

    # ---- train rounds --------------------------------------------------------------------------

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> Iterable[Message]:
        messages = list(messages)
        train = [m for m in messages if is_train(m)]
        other = [m for m in messages if not is_train(m)]
        replies = send_and_receive(self.grid, other, timeout=timeout) if other else []
        if train:
            replies += self._secure(train)
        return replies

    def _secure(self, train: list[Message]) -> list[Message]:
        r = _round_of(train[0].metadata.group_id, len(self.rounds) + 1)
        report = secure_round(self.grid, train, self.config, round_index=r, fmt=self.fmt)
        self.rounds.append(report)
        by_node = {m.metadata.dst_node_id: m for m in train}
        if report.aggregate is None:
            log.warning("secure round %d aborted, nothing released: %s", r, report.aborted)
            if self.config.on_abort == "raise":
                raise SecureRoundAborted(
                    report.aborted or "", phase=report.abort_phase, report=report
                )
            return [_error(m, f"secure round aborted: {report.aborted}") for m in by_node.values()]
        log.info(
            "secure round %d: %d of %d nodes summed, %d entries clipped",
            r,
            len(report.survivors),
            len(train),
            report.clipped,
        )
        content = aggregate_content(
            report.aggregate, self.fmt, self.config.array_key, self.config.weight_key
        )
        replies = [Message(content, reply_to=by_node[report.survivors[0]])]
        for node in sorted(report.dropped):
            if node not in report.survivors:
                replies.append(_error(by_node[node], report.errors.get(node, "dropped out")))
        return replies


def _error(message: Message, reason: str) -> Message:
    return Message(Error(DROPOUT_CODE, f"prism-secagg: {reason}"[:4000]), reply_to=message)


def _round_of(group_id: str, fallback: int) -> int:
    """The strategy's round number (its group id), else the count of secure rounds so far."""
    return int(group_id) if group_id.isdigit() and len(group_id) < 12 else fallback


class SecAggFitWorkflow:
    """A legacy fit workflow: ``DefaultWorkflow(fit_workflow=SecAggFitWorkflow(config))``."""

    def __init__(self, config: SecAggConfig | None = None) -> None:
        self.config = config or SecAggConfig()
        self.rounds: list[SecureRound] = []

    def __call__(self, grid: Grid, context: object) -> None:
        from flwr.server.workflow.default_workflows import default_fit_workflow

        secure = SecAggGrid(grid, self.config, fmt="legacy")
        default_fit_workflow(secure, context)  # type: ignore[arg-type]
        self.rounds += secure.rounds
