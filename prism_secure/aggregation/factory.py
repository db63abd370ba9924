"""The run's aggregator, from its configuration."""

from __future__ import annotations

from prism_secure.aggregation.base import Aggregator
from prism_secure.aggregation.fedpm import FedPM
from prism_secure.aggregation.mada import MADA
from prism_secure.aggregation.mean import MeanAggregator
from prism_secure.config import RunConfig


def build_aggregator(cfg: RunConfig) -> Aggregator:
    """The dense baseline averages weights; masked models merge counts with MADA or FedPM."""
    fed = cfg.federation
    if cfg.model.dense:
        return MeanAggregator()
    if fed.aggregator == "fedpm":
        return FedPM(fed.theta_clip)
    return MADA(fed.mada_space, fed.mada_lambda, fed.theta_clip)
