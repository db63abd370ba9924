"""The ClientApp: trains on this SuperNode's partition and returns the arrays and the count."""

from __future__ import annotations

from flwr.app import Array, ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from secagg_app import task

app = ClientApp()


@app.train()
def train(msg: Message, context: Context) -> Message:
    arrays = {k: v.numpy() for k, v in msg.content["arrays"].items()}
    config = msg.content["config"]
    index = int(context.node_config["partition-id"])
    count = int(context.node_config["num-partitions"])
    new, examples = task.train(
        arrays, index, count, float(config["lr"]), int(config["local-steps"])
    )
    reply = RecordDict(
        {
            "arrays": ArrayRecord(array_dict={k: Array(v) for k, v in new.items()}),
            "metrics": MetricRecord({"num-examples": examples}),
        }
    )
    return Message(content=reply, reply_to=msg)
