"""Each node's "training" returns a fresh random update (kernel and bias, float32 in [-1, 1])."""

from __future__ import annotations

import numpy as np
from flwr.app import Array, ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from prism_secure.protocols.adapters.flower import prism_secagg_mod

app = ClientApp(mods=[prism_secagg_mod()])


@app.train()
def train(msg: Message, context: Context) -> Message:
    shapes = {k: v.shape for k, v in msg.content["arrays"].items()}
    gen = np.random.default_rng()
    update = {k: gen.uniform(-1, 1, s).astype(np.float32) for k, s in shapes.items()}
    examples = 100 + 100 * int(context.node_config["partition-id"])
    content = RecordDict(
        {
            "arrays": ArrayRecord({k: Array(v) for k, v in update.items()}),
            "metrics": MetricRecord({"num-examples": examples}),
        }
    )
    return Message(content, reply_to=msg)
