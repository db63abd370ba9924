"""The ClientApp: trains on this SuperNode's partition and returns the arrays and the count.

The training code is what it would be without secure aggregation; ``prism_secagg_mod`` takes
its reply, checks and quantises the update and sends it only masked. The two ``faults`` mods
are TEST ONLY and do nothing unless the run config sets ``test-faults``.
"""

from __future__ import annotations

from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from prism_secure.protocols.adapters.flower import prism_secagg_mod
from secagg_app import faults, task

app = ClientApp(mods=[faults.at_stage, prism_secagg_mod(), faults.in_update])


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


@app.query()
def partition(msg: Message, context: Context) -> Message:
    """Which partition this node trains on (public; run.py's check replays the survivors)."""
    index = int(context.node_config["partition-id"])
    return Message(RecordDict({"node": ConfigRecord({"partition-id": index})}), reply_to=msg)
