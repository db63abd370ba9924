"""Fixtures of the Flower engine tests: a Flower Grid in one process.

:class:`FakeGrid` hands every pushed message straight to a ClientApp.

For tests of the Flower engine's logic without processes: it routes by node id, gives each
message an id, turns a ClientApp's exception into an error reply as Flower does (code 2), and
can make a node vanish at a chosen stage (its messages are never answered).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable

import pytest
from flwr.app import Context, Error, Message, RecordDict
from flwr.supercore.task_identity import TaskIdentity

from prism_secure.protocols.adapters.flower.transport import RECORD


class FakeGrid:
    def __init__(
        self,
        client_app: Callable[[Message, Context], Message],
        node_configs: dict[int, dict[str, object]],
        *,
        silent: Callable[[int, str, int], bool] = lambda node, stage, rnd: False,
        tamper: Callable[[int, Message], Message] | None = None,
    ) -> None:
        TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 1, 1, 1
        self.app, self.silent, self.tamper = client_app, silent, tamper
        self.contexts = {
            n: Context(run_id=1, node_id=n, node_config=cfg, state=RecordDict(), run_config={})
            for n, cfg in node_configs.items()
        }
        self.online = set(node_configs)
        self._ids = itertools.count(1)
        self._replies: dict[str, Message] = {}
        self.sent: list[tuple[int, str]] = []

    def get_node_ids(self) -> Iterable[int]:
        return sorted(self.online)

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        ids = []
        for msg in messages:
            mid = f"m{next(self._ids)}"
            msg.metadata.__dict__["_message_id"] = mid  # what the SuperLink assigns
            ids.append(mid)
            node = msg.metadata.dst_node_id
            record = msg.content.config_records.get(RECORD)
            stage = str(record["stage"]) if record is not None else "?"
            rnd = int(record["round"]) if record is not None else -1
            self.sent.append((node, stage))
            if node not in self.online or self.silent(node, stage, rnd):
                continue
            if self.tamper is not None:
                msg = self.tamper(node, msg)
            try:
                reply = self.app(msg, self.contexts[node])
            except Exception as exc:  # noqa: BLE001 - Flower turns any exception into an error
                reply = Message(Error(code=2, reason=f"{type(exc).__name__}: {exc}"), reply_to=msg)
            self._replies[mid] = reply
        return ids

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        return [self._replies.pop(m) for m in message_ids if m in self._replies]


@pytest.fixture
def fake_grid() -> type[FakeGrid]:
    return FakeGrid
