"""Flower's own SecAgg+ in one process: the real workflow and mod, messages through Flower's codec.

The real ``SecAggPlusWorkflow`` (server) and ``secaggplus_mod`` around a legacy ``NumPyClient``
(client). An in-memory ``Grid`` hands every message, deflated and re-inflated by Flower's own
object codec (what its HTTP grid sends), to the target node's ``ClientApp``, one node after
another, and turns a ClientApp exception into the error reply a SuperNode would send. Bytes per
client are the deflated objects; server seconds are the workflow's wall time less the time in
client calls and in the codec. A silent node never answers, and the grid does not wait out a
timeout for it. Used by ``bench/flower_secagg.py``.
"""

from __future__ import annotations

import secrets
import statistics
import time
from collections import defaultdict

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, RecordDict
from flwr.app.error import Error
from flwr.client import NumPyClient
from flwr.client.mod import secaggplus_mod
from flwr.clientapp import ClientApp
from flwr.common import parameters_to_ndarrays
from flwr.common.constant import ErrorCode
from flwr.server import LegacyContext, ServerConfig
from flwr.server.client_manager import SimpleClientManager
from flwr.server.compat.grid_client_proxy import GridClientProxy
from flwr.server.strategy import FedAvg
from flwr.server.workflow import SecAggPlusWorkflow
from flwr.serverapp.grid import Grid
from flwr.supercore.inflatable.inflatable_object import get_all_nested_objects
from flwr.supercore.inflatable.inflatable_utils import inflate_object_from_contents
from flwr.supercore.task_identity import TaskIdentity

STAGES = ("setup", "share", "masked", "unmask")  # in order; a client drops at one of them
SERVER_ID = 1  # Flower's SuperLink node id


def wire(msg: Message) -> tuple[Message, int]:
    """The message as the other side rebuilds it from Flower's deflated objects, and its bytes."""
    objects = get_all_nested_objects(msg)
    contents = {oid: obj.deflate() for oid, obj in objects.items()}
    size = sum(len(c) for c in contents.values())
    copy = inflate_object_from_contents(msg.object_id, contents)
    copy.metadata.__dict__["_message_id"] = msg.object_id
    return copy, size


class MemoryGrid(Grid):
    """Delivers each stage's messages to in-process ClientApps; silent nodes never answer."""

    def __init__(self, app: ClientApp, nodes: list[int], silent_from: dict[int, int]) -> None:
        self.app, self.nodes, self.silent_from = app, nodes, silent_from
        self.contexts = {nid: Context(1, nid, {}, RecordDict(), {}) for nid in nodes}
        self.stage = 0
        self.client_s: dict[int, float] = defaultdict(float)
        self.up: dict[int, int] = defaultdict(int)
        self.down: dict[int, int] = defaultdict(int)
        self.codec_s = 0.0
        self.answered: list[set[int]] = []
        self.errors: list[str] = []

    def set_run(self, run: object) -> None:  # not used in one process
        pass

    @property
    def run(self) -> object:
        raise NotImplementedError

    def create_message(self, content, message_type, dst_node_id, group_id, ttl=None):  # noqa: ANN001
        return Message(
            content, dst_node_id=dst_node_id, message_type=message_type, group_id=group_id, ttl=ttl
        )

    def get_node_ids(self) -> list[int]:
        return list(self.nodes)

    def push_messages(self, messages):  # noqa: ANN001
        raise NotImplementedError("SecAggPlusWorkflow only calls send_and_receive")

    def pull_messages(self, message_ids):  # noqa: ANN001
        raise NotImplementedError("SecAggPlusWorkflow only calls send_and_receive")

    def send_and_receive(self, messages, *, timeout=None):  # noqa: ANN001
        replies, answered = [], set()
        for msg in messages:
            nid = msg.metadata.dst_node_id
            if self.silent_from.get(nid, len(STAGES)) <= self.stage:
                continue
            start = time.perf_counter()
            inbound, size = wire(msg)
            mid = time.perf_counter()
            try:
                reply = self.app(inbound, self.contexts[nid])
            except Exception as exc:  # a SuperNode reports a ClientApp exception as code 2
                reason = f"{type(exc).__name__}: {exc}"
                reply = Message(
                    Error(ErrorCode.CLIENT_APP_RAISED_EXCEPTION, reason), reply_to=inbound
                )
                self.errors.append(reason)
            end = time.perf_counter()
            outbound, back = wire(reply)
            self.codec_s += (mid - start) + (time.perf_counter() - end)
            self.client_s[nid] += end - mid
            self.down[nid] += size
            self.up[nid] += back
            if not outbound.has_error():
                answered.add(nid)
            replies.append(outbound)
        self.answered.append(answered)
        self.stage += 1
        return replies


class KeepAggregate(FedAvg):
    """SecAgg+ hands every FitRes the aggregate already; keep it instead of re-averaging."""

    aggregate: list[np.ndarray] | None = None

    def aggregate_fit(self, server_round, results, failures):  # noqa: ANN001
        params = results[0][1].parameters
        self.aggregate = parameters_to_ndarrays(params)
        return params, {}


def flower_round(
    updates: list[dict],
    weights: list[int],
    t: int,
    drops: dict[int, str],
    *,
    clip: float,
    levels_bits: int,
    max_weight: int,
) -> dict:
    """One round on the full graph with threshold t; ``drops`` maps a client to its stage."""
    n = len(updates)
    nodes = sorted({secrets.randbits(62) + 2 for _ in range(4 * n)})[:n]
    by_node = dict(zip(nodes, range(n), strict=True))

    class Trainer(NumPyClient):
        def __init__(self, index: int) -> None:
            self.index = index

        def fit(self, parameters, config):  # noqa: ANN001
            return list(updates[self.index].values()), weights[self.index], {}

    app = ClientApp(
        client_fn=lambda ctx: Trainer(by_node[ctx.node_id]).to_client(), mods=[secaggplus_mod]
    )
    grid = MemoryGrid(app, nodes, {nodes[i]: STAGES.index(s) for i, s in drops.items()})
    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 1, SERVER_ID, 1
    strategy = KeepAggregate(
        fraction_fit=1.0, fraction_evaluate=0.0, min_fit_clients=n, min_available_clients=n
    )
    manager = SimpleClientManager()
    for nid in nodes:
        manager.register(GridClientProxy(nid, grid, 1))
    context = LegacyContext(
        Context(1, SERVER_ID, {}, RecordDict(), {}),
        config=ServerConfig(num_rounds=1),
        strategy=strategy,
        client_manager=manager,
    )
    context.state.config_records["config"] = ConfigRecord({"current_round": 1})
    context.state.array_records["parameters"] = ArrayRecord()
    workflow = SecAggPlusWorkflow(
        num_shares=n,
        reconstruction_threshold=t,
        clipping_range=clip,
        quantization_range=2**levels_bits,
        max_weight=max_weight,
    )
    start = time.perf_counter()
    workflow(grid, context)
    wall = time.perf_counter() - start
    masked = grid.answered[2] if len(grid.answered) > 2 else set()
    keep = [nodes[i] for i in range(n) if nodes[i] in masked]
    return {
        "completed": strategy.aggregate is not None,
        "aggregate": strategy.aggregate,
        "included": [by_node[nid] for nid in keep],
        "server_s": wall - sum(grid.client_s.values()) - grid.codec_s,
        "client_s": statistics.median(grid.client_s[i] for i in keep) if keep else None,
        "up_bytes": statistics.median(grid.up[i] for i in keep) if keep else None,
        "down_bytes": statistics.median(grid.down[i] for i in keep) if keep else None,
        "client_errors": grid.errors[:3],
    }
