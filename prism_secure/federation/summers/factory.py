"""The run's summer, from its configuration."""

from __future__ import annotations

from prism_secure.config import RunConfig
from prism_secure.federation.summers.base import MaskSummer
from prism_secure.federation.summers.pairwise import PairwiseSum
from prism_secure.federation.summers.plain import PlainSum


def planned_dropout(cfg: RunConfig) -> float:
    """The dropout rate the parameter finder plans for: ``secure_agg.dropout``, else the
    simulated ``federation.dropout``."""
    if cfg.secure_agg.dropout is not None:
        return cfg.secure_agg.dropout
    return cfg.federation.dropout


def build_summer(cfg: RunConfig) -> MaskSummer:
    sa = cfg.secure_agg
    if sa.mode == "none":
        return PlainSum()
    if sa.mode == "he":
        from prism_secure.federation.summers.homomorphic import HomomorphicSum

        return HomomorphicSum(sa)
    return PairwiseSum(sa, planned_dropout(cfg), sa.record_transcript)
