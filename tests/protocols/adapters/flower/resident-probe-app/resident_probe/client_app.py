"""Answers each query with its process id and how many tasks this process has run; or fails,
as asked: ``raise`` raises an exception, ``exit`` ends its process, and ``lose`` answers but
loses the answer to the next task's first ask for its input (the SuperNode has started that
task; a connection error reaches the ClientApp's runtime)."""

from __future__ import annotations

import os

from flwr.app import ConfigRecord, Context, Message, RecordDict
from flwr.clientapp import ClientApp

app = ClientApp()
TASKS = [0]  # what lives on between tasks in one process


@app.query()
def probe(msg: Message, context: Context) -> Message:
    TASKS[0] += 1
    action = str(msg.content["ask"]["action"])
    if action == "raise":
        raise RuntimeError("the probe was asked to fail")
    if action == "exit":
        raise SystemExit(3)
    if action == "lose":
        _lose_the_next_input()
    answer = ConfigRecord({"pid": os.getpid(), "tasks": TASKS[0]})
    return Message(RecordDict({"answer": answer}), reply_to=msg)


def _lose_the_next_input() -> None:
    import httpx
    from flwr.proto.runtime_pb2 import PullTaskInputRequest
    from flwr.supernode.runtime import run_clientapp

    real = run_clientapp.pull_task_input

    def lost(client: object) -> object:
        run_clientapp.pull_task_input = real  # once
        client.PullTaskInput(PullTaskInputRequest())  # type: ignore[attr-defined]
        raise httpx.ReadError("the probe lost the answer")

    run_clientapp.pull_task_input = lost
