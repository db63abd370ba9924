"""The summer for ``secure_agg.mode = "he"``: TenSEAL BFV through ``run_he_sum``.

The HE path has two phases at which a client can vanish: before its ciphertext reaches the
server (``upload``: it is missing from the sum) and after (``decrypt``: it is still counted).

Trust model: every client holds the one shared secret key; a client colluding with the server can
decrypt every individual mask (details in :mod:`prism_secure.protocols.he`).
"""

from __future__ import annotations

from prism_secure.config import SecureAggConfig
from prism_secure.federation.summers.base import MaskSummer, SumOutcome, SumRequest, outcome_of
from prism_secure.federation.summers.policy import release_threshold


class HomomorphicSum(MaskSummer):
    """Sum 0/1 masks under BFV (N=8192, t=65537, coeff [40, 40]: exact up to 32768 clients)."""

    name = "he"

    def __init__(self, cfg: SecureAggConfig) -> None:
        self.cfg = cfg

    def _sum(self, request: SumRequest) -> SumOutcome:
        from prism_secure.protocols.he import run_he_sum

        res = run_he_sum(
            request.inputs,
            round_index=request.round_index,
            model_digest=request.model_digest,
            dropouts=request.dropouts or None,
            min_survivors=release_threshold(self.cfg, len(request.inputs)),
        )
        return outcome_of(res, request.started)

    def dropout_phases(self) -> list[str]:
        from prism_secure.protocols.he import phase_names

        return phase_names()
