"""A reply whose upload never completes ends at the exchange's deadline, not minutes later.

The ServerApp's grid here is Flower's own ``HttpGrid`` and its object pulls are Flower's own
``pull_objects``; only the SuperLink's side of the Runtime API is played by :class:`Link`, which
answers with Flower's own protobuf messages, so the scenario (one site killed halfway through
uploading its reply) is exact and repeatable.
"""

from __future__ import annotations

import itertools
import threading
import time

import pytest
from flwr.app import Message, RecordDict
from flwr.app.message import remove_content_from_message
from flwr.common.constant import SUPERLINK_NODE_ID
from flwr.common.serde import message_to_proto
from flwr.proto.message_pb2 import (
    ConfirmMessageReceivedResponse,
    PullObjectResponse,
)
from flwr.proto.runtime_pb2 import PullAppMessagesResponse, PushAppMessagesResponse
from flwr.supercore.inflatable.inflatable_object import get_all_nested_objects, get_object_tree
from flwr.supercore.inflatable.inflatable_utils import ObjectPullError, ObjectUnavailableError
from flwr.supercore.run import Run
from flwr.supercore.task_identity import TaskIdentity
from flwr.superlink.grid import http_grid
from flwr.superlink.grid.http_grid import HttpGrid

from prism_secure.protocols.adapters.flower import bounded_pulls
from prism_secure.protocols.adapters.flower.bounded_pulls import (
    GRACE,
    LONGEST_WAIT,
    BoundedPullError,
    bounded_until,
)
from prism_secure.protocols.adapters.flower.transport import exchange, pack, unpack

HALF_SENT, LATE = 11, 12  # node ids: killed mid-upload; answers after a second


class Link:
    """The SuperLink's Runtime API for one exchange: one reply half-uploaded, one late."""

    def __init__(self, late_after: float) -> None:
        self.start = time.monotonic()
        self.late_after = late_after
        self.replies: dict[str, Message] = {}  # request id -> reply
        self.contents: dict[str, bytes] = {}
        self.withheld: set[str] = set()
        self.pulls: list[float] = []

    def PushMessages(self, request):  # noqa: N802, ANN001, ANN201 - Flower's RPC names
        ids = []
        for proto in request.messages_list:
            mid, node = proto.metadata.message_id, proto.metadata.dst_node_id
            ids.append(mid)
            request_message = Message(RecordDict(), dst_node_id=node, message_type="query")
            request_message.metadata.__dict__["_message_id"] = mid
            reply = Message(pack("share", 1, bytes([node]) * 64), reply_to=request_message)
            reply.metadata.__dict__["_message_id"] = reply.object_id
            objects = get_all_nested_objects(reply)
            self.contents.update({oid: obj.deflate() for oid, obj in objects.items()})
            if node == HALF_SENT:  # the message arrived, not its content
                self.withheld |= {oid for oid in objects if oid != reply.object_id}
            self.replies[mid] = reply
        return PushAppMessagesResponse(message_ids=ids, objects_to_push=[], session_id="s")

    def PullMessages(self, request):  # noqa: N802, ANN001, ANN201
        now = time.monotonic() - self.start
        self.pulls.append(now)
        protos, trees = [], []
        for mid in request.message_ids:
            reply = self.replies[mid]
            if reply.metadata.src_node_id == LATE and now < self.late_after:
                continue
            protos.append(message_to_proto(remove_content_from_message(reply)))
            trees.append(get_object_tree(reply))
        return PullAppMessagesResponse(messages_list=protos, message_object_trees=trees)

    def PullObject(self, request):  # noqa: N802, ANN001, ANN201
        if request.object_id in self.withheld:
            return PullObjectResponse(object_found=True, object_available=False)
        content = self.contents[request.object_id]
        return PullObjectResponse(object_found=True, object_available=True, object_content=content)

    def ConfirmMessageReceived(self, request):  # noqa: N802, ANN001, ANN201
        return ConfirmMessageReceivedResponse()

    def PushObject(self, request):  # noqa: N802, ANN001, ANN201 - nothing asked to be pushed
        raise AssertionError("no object was requested")


@pytest.fixture(autouse=True)
def as_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """The identity a ServerApp process has (Flower's ``Message`` reads it)."""
    for name, value in (("_run_id", 7), ("_node_id", SUPERLINK_NODE_ID), ("_task_id", 1)):
        monkeypatch.setattr(TaskIdentity, name, value)


def grid_on(link: Link) -> HttpGrid:
    grid = HttpGrid(token="test-token")
    grid.set_run(Run.create_empty(7))
    grid._client = link  # type: ignore[assignment]  # the Runtime API's far side
    return grid


def test_a_half_uploaded_reply_does_not_hold_up_the_exchange() -> None:
    """The defect seen on loopback: a live site's reply must be read, and soon."""
    deadline, link = 2.0, Link(late_after=1.0)
    grid = grid_on(link)
    contents = {node: pack("share", 1, b"to " + bytes([node])) for node in (HALF_SENT, LATE)}
    done: dict[str, object] = {}

    def run() -> None:
        done["result"] = exchange(
            grid, contents, message_type="query", group_id="1", deadline=deadline, poll=0.05
        )

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout=deadline + GRACE + LONGEST_WAIT + 6.0)  # Flower's own: minutes
    assert not worker.is_alive(), "the exchange waited on a reply that never finished uploading"
    result = done["result"]
    assert set(result.replies) == {LATE}  # type: ignore[attr-defined]
    assert unpack(result.replies[LATE].content, stage="share").data == bytes([LATE]) * 64  # type: ignore[attr-defined]
    assert set(result.errors) == {HALF_SENT} and not result.missing  # type: ignore[attr-defined]
    assert "unavailable" in result.errors[HALF_SENT]  # type: ignore[attr-defined]
    assert result.seconds < deadline + GRACE + LONGEST_WAIT + 1.5  # type: ignore[attr-defined]
    assert link.pulls[-1] >= deadline  # the last pull began at the deadline


def test_a_reply_in_by_the_deadline_is_read_without_waiting_it_out() -> None:
    link = Link(late_after=0.3)
    contents = {LATE: pack("share", 1, b"x")}
    result = exchange(
        grid_on(link), contents, message_type="query", group_id="1", deadline=30.0, poll=0.05
    )
    assert set(result.replies) == {LATE} and not result.errors and not result.missing
    assert result.seconds < 5.0


def test_a_quick_reply_is_read_soon_and_a_slow_one_costs_few_pulls() -> None:
    """The server looks again 0.05 s after the push, then twice as long each time: a protocol
    phase's reply is read well before ``poll`` s, and a long wait pulls about once a ``poll``."""
    quick = Link(late_after=0.4)
    result = exchange(
        grid_on(quick), {LATE: pack("share", 1, b"x")}, message_type="query", group_id="1",
        deadline=30.0, poll=5.0,
    )  # fmt: skip
    assert set(result.replies) == {LATE}
    assert result.seconds < 2.0  # a fixed poll of 5 s: 5 s
    gaps = [b - a for a, b in itertools.pairwise(quick.pulls)]
    assert gaps[0] < 0.5 and all(b > 1.5 * a for a, b in itertools.pairwise(gaps))

    slow = Link(late_after=4.0)
    result = exchange(
        grid_on(slow), {LATE: pack("share", 1, b"x")}, message_type="query", group_id="1",
        deadline=30.0, poll=0.8,
    )  # fmt: skip
    assert set(result.replies) == {LATE} and 4.0 <= result.seconds < 6.0
    assert len(slow.pulls) <= 11  # 0.05 .. 0.8 s, then every 0.8 s; a fixed 0.05 s: 80


def test_flowers_own_pull_objects_ends_at_the_bound() -> None:
    def never(object_id: str) -> bytes:
        raise ObjectUnavailableError(object_id)

    start = time.monotonic()
    with bounded_until(start + 0.5), pytest.raises(ObjectPullError):
        http_grid.pull_objects(object_ids=["a" * 64], pull_object_fn=never)
    assert time.monotonic() - start < 0.5 + GRACE + LONGEST_WAIT + 1.0


def test_outside_the_bound_flowers_defaults_hold() -> None:
    tries: list[str] = []

    def third_time(object_id: str) -> bytes:
        tries.append(object_id)
        if len(tries) < 3:
            raise ObjectUnavailableError(object_id)
        return b"content"

    bounded_pulls.install()
    bounded_pulls.install()  # idempotent: wrapped once
    assert not getattr(http_grid.pull_objects.__wrapped__, "bounded", False)
    past = time.monotonic() - 5.0  # a deadline long past: one try, no retry
    with bounded_until(past), pytest.raises(ObjectPullError):
        http_grid.pull_objects(object_ids=["b" * 64], pull_object_fn=third_time)
    assert len(tries) == 1
    assert http_grid.pull_objects(object_ids=["b" * 64], pull_object_fn=third_time) == {
        "b" * 64: b"content"
    }


def test_a_grid_that_pulls_otherwise_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(http_grid, "pull_objects")
    with pytest.raises(BoundedPullError, match="has no pull_objects"):
        bounded_pulls.install()
    monkeypatch.setattr(
        http_grid, "pull_objects", lambda object_ids, pull_object_fn: {}, raising=False
    )
    with pytest.raises(BoundedPullError, match="takes no"), bounded_until(time.monotonic()):
        pass
