"""The server's five phases, the client reply each one waits for, and what the round yields."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from prism_secure.protocols.secagg.messages import (
    AdvertiseKeys,
    ConsistencyReply,
    FromClient,
    MaskedInputReply,
    ShareKeysReply,
    UnmaskReply,
)

PHASES = ("advertise", "share", "masked", "consistency", "unmask")
REPLY: dict[str, type[FromClient]] = dict(
    zip(
        PHASES,
        (AdvertiseKeys, ShareKeysReply, MaskedInputReply, ConsistencyReply, UnmaskReply),
        strict=True,
    )
)


@dataclass
class AggregateResult:
    """What the server learns: the sum over ``survivors`` (mod 2^bits, as int64), and who."""

    total: np.ndarray
    survivors: list[int]
    transcript: dict[int, np.ndarray] | None = None
    seconds: dict[str, float] = field(default_factory=dict)
