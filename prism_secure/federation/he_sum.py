"""The engine's adapter for ``secure_agg.mode = "he"``: TenSEAL BFV through ``run_he_sum``.

The engine draws dropout phases from the SecAgg driver (advertise, share, masked, consistency,
unmask). The HE path has one upload and one decryption, so each name maps onto what matters: did
the ciphertext reach the server? advertise/share/masked happen before SecAgg's masked-input upload,
so a client dropping there is missing from the sum; consistency/unmask come after it, so the client
is still counted (its ciphertext is already in the aggregate): ``HE_PHASE`` below translates them
into the HE path's own phases (:func:`prism_secure.protocols.he.phase_names`).

Trust model: every client holds the one shared secret key; a client colluding with the server can
decrypt every individual mask (details in :mod:`prism_secure.protocols.he`).
"""

from __future__ import annotations

import time

import numpy as np

from prism_secure.config import SecureAggConfig
from prism_secure.federation.secure_sum import (
    MaskSummer,
    SumOutcome,
    outcome_of,
    release_threshold,
)

# The engine's SecAgg phase names, as the HE path's phases: did the ciphertext reach the server?
HE_PHASE = {
    "advertise": "upload",
    "share": "upload",
    "masked": "upload",
    "consistency": "decrypt",
    "unmask": "decrypt",
}


class HomomorphicSum(MaskSummer):
    """Sum 0/1 masks under BFV (N=8192, t=65537, coeff [40, 40]: exact up to 32768 clients)."""

    name = "he"

    def __init__(self, cfg: SecureAggConfig) -> None:
        self.cfg = cfg

    def sum(
        self,
        inputs: dict[int, np.ndarray],
        *,
        round_index: int,
        model_digest: bytes,
        dropouts: dict[int, str],
    ) -> SumOutcome:
        from prism_secure.protocols.he import run_he_sum

        start = time.perf_counter()
        res = run_he_sum(
            inputs,
            round_index=round_index,
            model_digest=model_digest,
            dropouts={c: HE_PHASE.get(p, p) for c, p in dropouts.items()} or None,
            min_survivors=release_threshold(self.cfg, len(inputs)),
        )
        return outcome_of(res, start)
