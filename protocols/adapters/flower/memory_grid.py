"""A Flower Grid in one process: every message crosses Flower's own codec to a ClientApp.

For tests and benchmarks of a ServerApp and a ClientApp without processes. Each pushed message
is deflated into the objects Flower's HTTP grid sends and re-inflated on the node's side, handed
to the ClientApp with that node's :class:`~flwr.app.Context` (whose ``state`` is also re-inflated
after every message, as a SuperNode keeps it between ClientApp processes), and its reply comes
back the same way. A ClientApp exception becomes the error reply a SuperNode sends (code 2).
``silent(node, message)`` makes a node never answer that message (a dropout, or a crash).
Replies are ready as soon as a push returns: no timeout is ever waited out. It counts the bytes
each way per node, the seconds each node's ClientApp ran and the seconds spent in the codec.
"""

from __future__ import annotations

import itertools
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping

from flwr.app import Context, Error, Message, RecordDict
from flwr.common.constant import SUPERLINK_NODE_ID, ErrorCode
from flwr.supercore.inflatable.inflatable_object import get_all_nested_objects
from flwr.supercore.inflatable.inflatable_utils import inflate_object_from_contents
from flwr.supercore.run import Run
from flwr.supercore.task_identity import TaskIdentity

ClientApp = Callable[[Message, Context], Message]
Silent = Callable[[int, Message], bool]


def through_codec(obj: Message | RecordDict) -> tuple[Message | RecordDict, int]:
    """``obj`` as the other side rebuilds it from Flower's deflated objects, and their bytes."""
    objects = get_all_nested_objects(obj)
    contents = {oid: o.deflate() for oid, o in objects.items()}
    size = sum(len(c) for c in contents.values())  # before inflating, which consumes them
    copy = inflate_object_from_contents(obj.object_id, contents)
    if isinstance(copy, Message):
        copy.metadata.__dict__["_message_id"] = obj.object_id
    return copy, size


class MemoryGrid:
    """Nodes ``node_configs`` (node id -> node config) running ``app``, all in this process."""

    def __init__(
        self,
        app: ClientApp,
        node_configs: Mapping[int, Mapping[str, object]],
        *,
        run_config: Mapping[str, object] | None = None,
        silent: Silent | None = None,
        run_id: int = 1,
    ) -> None:
        self.app, self.silent, self.run_id = app, silent or (lambda node, msg: False), run_id
        self.contexts = {
            n: Context(run_id, n, dict(cfg), RecordDict(), dict(run_config or {}))
            for n, cfg in node_configs.items()
        }
        self.online = set(node_configs)
        self._replies: dict[str, Message] = {}
        self._tasks = itertools.count(2)
        self.client_seconds: dict[int, float] = defaultdict(float)
        self.codec_seconds = 0.0
        self.bytes_down: dict[int, int] = defaultdict(int)
        self.bytes_up: dict[int, int] = defaultdict(int)
        self.errors: list[str] = []
        self._as_server()

    def _as_server(self) -> None:
        TaskIdentity.run_id, TaskIdentity.node_id = self.run_id, SUPERLINK_NODE_ID
        TaskIdentity.task_id = 1

    # ---- the Grid ------------------------------------------------------------------------------

    def set_run(self, run: object) -> None:  # one run per grid
        pass

    @property
    def run(self) -> Run:
        return Run.create_empty(self.run_id)

    def create_message(self, content, message_type, dst_node_id, group_id, ttl=None):  # noqa: ANN001
        return Message(
            content, dst_node_id=dst_node_id, message_type=message_type, group_id=group_id, ttl=ttl
        )

    def get_node_ids(self) -> list[int]:
        return sorted(self.online)

    def push_messages(self, messages: Iterable[Message]) -> list[str]:
        ids = []
        for msg in messages:
            msg.metadata.__dict__["_message_id"] = msg.object_id
            ids.append(msg.metadata.message_id)
            reply = self._deliver(msg)
            if reply is not None:
                self._replies[msg.metadata.message_id] = reply
        return ids

    def pull_messages(self, message_ids: Iterable[str]) -> list[Message]:
        return [self._replies.pop(m) for m in message_ids if m in self._replies]

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> list[Message]:
        return self.pull_messages(self.push_messages(list(messages)))

    # ---- one node ------------------------------------------------------------------------------

    def _deliver(self, msg: Message) -> Message | None:
        node = msg.metadata.dst_node_id
        if node not in self.online:
            return None
        start = time.perf_counter()
        inbound, size = through_codec(msg)
        self.bytes_down[node] += size
        if self.silent(node, inbound):  # type: ignore[arg-type]
            self.codec_seconds += time.perf_counter() - start
            return None
        context = self.contexts[node]
        TaskIdentity.node_id, TaskIdentity.task_id = node, next(self._tasks)
        mid = time.perf_counter()
        try:
            reply = self.app(inbound, context)  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - a SuperNode turns any exception into an error
            reason = f"{type(exc).__name__}: {exc}"
            self.errors.append(reason)
            reply = Message(Error(ErrorCode.CLIENT_APP_RAISED_EXCEPTION, reason), reply_to=inbound)  # type: ignore[arg-type]
        finally:
            self._as_server()
        end = time.perf_counter()
        outbound, back = through_codec(reply)
        context.state = through_codec(context.state)[0]  # type: ignore[assignment]
        self.bytes_up[node] += back
        self.client_seconds[node] += end - mid
        self.codec_seconds += (mid - start) + (time.perf_counter() - end)
        return outbound  # type: ignore[return-value]
