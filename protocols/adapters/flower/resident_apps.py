"""Resident ClientApps: a SuperNode's ClientApp tasks run one after another in one process.

A warm SuperExec forks one process per ClientApp task, and Flower's runtime in it then installs
the run's app bundle again, loads the app, and starts from a fresh heap: about 0.1-0.2 CPU-s per
message here, and a PRISM round has five messages per site. A site's local training in such a
process also ran about 25% slower than the same training in a process that had already run
(BENCHMARKS.md). With ``resident`` a node's loop runs each task itself, through the same steps
as Flower's ``run_clientapp`` (task input pulled, app called, reply and task output pushed, a task
heartbeat meanwhile), and keeps what does not change between a run's tasks: the installed bundle
and the loaded app, by the bundle's hash.

What lives on is the site's own process memory, on the site's own machine: the same trust as the
state files a site keeps between phases. A task that raises is answered with Flower's error reply,
as a forked one is, and the loop takes the next; one that ends the process (``SystemExit``, a
crash) ends the loop, and the warm SuperExec starts another for its node.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import threading
import time
from collections.abc import Callable, MutableMapping
from logging import ERROR
from typing import TYPE_CHECKING

from prism_secure.protocols.adapters.flower.processes import alive

if TYPE_CHECKING:
    from flwr.app import Context, Message
    from flwr.clientapp import ClientApp
    from flwr.supercore.runtime import RuntimeHttpClient

#: Bundles' loaded ClientApps, by the bundle's hash: one node loop's, for its whole life.
AppCache = MutableMapping[str, "ClientApp"]


def _libc_malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    return getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None


_MALLOC_TRIM = _libc_malloc_trim()


def trim_heap() -> None:
    """Give freed heap back to the system after a task (glibc), so that a resident site holds
    what its next task needs, not the peak of its last training."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def end_with(pid: int | None, every: float = 0.2) -> None:
    """End this process within ``every`` s of ``pid``'s end, whatever it is doing then: a
    resident site whose SuperNode died stops training for nobody, as a forked ClientApp does
    (Flower's parent monitor), and leaves the cores to the sites still in the round."""
    if pid is None:
        return

    def watch() -> None:
        while alive(pid):
            time.sleep(every)
        os._exit(0)

    threading.Thread(target=watch, name="resident-node-watch", daemon=True).start()


def _load_app(run_fab: tuple[str, str, str], content: bytes, apps: AppCache) -> ClientApp:
    """The bundle's ClientApp: installed and loaded on its first task, then from ``apps``."""
    from flwr.cli.install import install_from_fab
    from flwr.clientapp.utils import get_load_client_app_fn

    fab_id, fab_version, fab_hash = run_fab
    app = apps.get(fab_hash)
    if app is None:
        install_from_fab(content, skip_prompt=True)
        load = get_load_client_app_fn(default_app_ref="", app_path=None, multi_app=True)
        app = apps[fab_hash] = load(fab_id, fab_version, fab_hash)
    return app


def run_resident(address: str, certificates: bytes | None, token: str, apps: AppCache) -> None:
    """Run one ClientApp task of the SuperNode whose Runtime API is at ``address`` (over TLS from
    ``certificates``, else plain HTTP) in this process, as Flower's ``flwr-clientapp`` would.

    Never raises for the app's sake: its exception becomes the error reply Flower's runtime
    sends, and a failure to reach the node is logged (the node's own deadline then tells the
    server). An app that ends its process (``SystemExit``) gets the same error reply, then the
    exit goes on and ends the loop: a SuperNode of flwr 1.42 waits for a reply to each task
    before it takes the next, so a task left unanswered would stall its node for good. For the
    same reason a task whose input could not be pulled is answered too (:func:`_unanswered`).
    """
    from flwr.app import Message
    from flwr.app.error import Error
    from flwr.clientapp.client_app import LoadClientAppError
    from flwr.common.constant import ErrorCode, SubStatus
    from flwr.supercore import log
    from flwr.supercore.heartbeat import HeartbeatSender, make_task_heartbeat_fn_http
    from flwr.supercore.interceptors import (
        RuntimeTokenHttpInterceptor,
        RuntimeVersionHttpInterceptor,
    )
    from flwr.supercore.retry import make_simple_http_retry_invoker
    from flwr.supercore.runtime import RuntimeHttpClient
    from flwr.supercore.runtime.tracing import RuntimeTracingInterceptor
    from flwr.supernode.runtime.run_clientapp import (
        pull_task_input,
        push_message,
        push_task_output,
    )

    retry = make_simple_http_retry_invoker()
    client = RuntimeHttpClient.from_server_address(
        server_address=address,
        insecure=certificates is None,
        root_certificates=certificates,
        interceptors=[
            RuntimeTracingInterceptor(),
            RuntimeVersionHttpInterceptor(component_name="flwr-clientapp"),
            RuntimeTokenHttpInterceptor(token),
        ],
        retry_invoker=retry,
    )
    heartbeat = HeartbeatSender(make_task_heartbeat_fn_http(client))
    message = reply = context = addressed = None
    status, details = SubStatus.FAILED, "ClientApp task failed due to unknown reason"
    exiting: SystemExit | None = None
    try:
        heartbeat.start()
        message, context, run, fab = pull_task_input(client)
        app = _load_app((run.fab_id, run.fab_version, fab.hash_str), fab.content, apps)
        reply = app(message=message, context=context)
        status, details = SubStatus.COMPLETED, ""
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - answered as Flower's runtime does
        exiting = exc if isinstance(exc, SystemExit) else None
        code = ErrorCode.CLIENT_APP_RAISED_EXCEPTION
        details = f"{type(exc)}:<'{exc}'>"
        if isinstance(exc, LoadClientAppError):
            code = ErrorCode.LOAD_CLIENT_APP_EXCEPTION
            details = "An exception was raised when attempting to load `ClientApp`"
        log(ERROR, "ClientApp raised an exception", exc_info=exc)
        if message is None:
            message, addressed = _unanswered(client)
        if message is not None:
            reply = Message(Error(code=code, reason=details), reply_to=message)
    finally:
        try:
            to = context if context is not None else addressed
            if reply is not None and to is not None:
                push_message(client, reply, to)
        except Exception as exc:  # noqa: BLE001 - the node is gone or busy: its deadline tells
            log(ERROR, "Failed to push reply message", exc_info=exc)
        retry.max_tries = 1  # as Flower's runtime on its way out: do not block on a lost node
        with contextlib.suppress(Exception):
            push_task_output(client=client, context=context, sub_status=status, details=details)
        if heartbeat.is_running:
            heartbeat.stop()
        client.close()
        trim_heap()
    if exiting is not None:
        raise exiting


def _unanswered(client: RuntimeHttpClient) -> tuple[Message | None, Context | None]:
    """The task's message, and where a reply to it goes, when pulling the task's input failed.

    The first ask for a task's input starts the task on the SuperNode; if its answer is lost
    (seen here once: a connection error, then Flower's retry refused, the task having started),
    the task can no longer be asked for its input, yet its node waits for the reply. Its message
    can still be pulled with the task's token, and answered with an error: the server counts the
    site out of that exchange, and the node takes its next message.
    """
    from flwr.app import Context, Message, RecordDict
    from flwr.proto.node_pb2 import Node
    from flwr.proto.runtime_pb2 import PullAppMessagesRequest
    from flwr.supercore import log
    from flwr.supercore.inflatable.inflatable_protobuf_utils import (
        make_confirm_message_received_fn_protobuf,
        make_pull_object_fn_protobuf,
    )
    from flwr.supercore.inflatable.inflatable_utils import pull_and_inflate_object_from_tree

    try:
        res = client.PullMessages(PullAppMessagesRequest())
        if not res.messages_list:
            return None, None
        meta, tree = res.messages_list[0].metadata, res.message_object_trees[0]
        node = Node(node_id=meta.dst_node_id)
        message = pull_and_inflate_object_from_tree(
            tree,
            make_pull_object_fn_protobuf(client.PullObject, node, meta.run_id),
            make_confirm_message_received_fn_protobuf(
                client.ConfirmMessageReceived, node, meta.run_id
            ),
            return_type=Message,
        )
    except Exception as exc:  # noqa: BLE001 - the node is gone or the token dead: nothing to do
        log(ERROR, "Could not pull the message of a task whose input was lost", exc_info=exc)
        return None, None
    message.metadata.__dict__["_message_id"] = tree.object_id  # as Flower's runtime sets it
    addressed = Context(
        run_id=meta.run_id,
        node_id=meta.dst_node_id,
        node_config={},
        state=RecordDict(),
        run_config={},
    )
    return message, addressed
