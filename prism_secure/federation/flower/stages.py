"""The exchanges of one run on Flower, and the message types Flower routes them by."""

from __future__ import annotations

HELLO = "hello"  # once per node: which partition it serves (checks its node config)
TRAIN = "train"  # per round: the global scores in, the client's AdvertiseKeys out
SECAGG_STAGES = ("share", "masked", "consistency", "unmask")  # one exchange each
ABORT = "abort"  # the server stopped the round: wipe this round's protocol state

HELLO_TYPE = "query.hello"
TRAIN_TYPE = "train"
SECAGG_TYPE = "train.secagg"
