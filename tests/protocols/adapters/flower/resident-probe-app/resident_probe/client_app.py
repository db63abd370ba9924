"""Answers each query with its process id and how many tasks this process has run; or fails,
as asked: ``raise`` raises an exception, ``exit`` ends its process."""

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
    answer = ConfigRecord({"pid": os.getpid(), "tasks": TASKS[0]})
    return Message(RecordDict({"answer": answer}), reply_to=msg)
