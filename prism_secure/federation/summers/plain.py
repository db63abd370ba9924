"""No protection: the server receives every packed mask (``--secure-agg none``, for comparison)."""

from __future__ import annotations

import math
import time

import numpy as np

from prism_secure.federation.summers.base import MaskSummer, SumOutcome, SumRequest
from prism_secure.protocols.errors import AbortedError


class PlainSum(MaskSummer):
    """No protection: the server receives every packed mask. For comparison only."""

    name = "none"

    def _sum(self, request: SumRequest) -> SumOutcome:
        inputs, dropouts = request.inputs, request.dropouts
        survivors = sorted(c for c in inputs if c not in dropouts)
        if not survivors:  # nothing to aggregate: the round releases nothing, as SecAgg would
            raise AbortedError("every client dropped", phase="upload")
        first = next(iter(inputs.values()))
        d = len(first)
        floating = np.issubdtype(first.dtype, np.floating)
        total = np.zeros(d, dtype=np.float64 if floating else np.int64)
        for c in survivors:
            total += inputs[c]
        packed = 4 * d if floating else math.ceil(d / 8)
        return SumOutcome(
            counts=total,
            survivors=survivors,
            bytes_up={c: packed for c in survivors},
            bytes_down={c: 0 for c in survivors},
            seconds=time.perf_counter() - request.started,
        )

    def dropout_phases(self) -> list[str]:
        return ["upload"]
