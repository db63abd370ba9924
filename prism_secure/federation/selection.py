"""Who takes part in a round, and (in simulation) who vanishes at which protocol phase."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from prism_secure.config import RunConfig
from prism_secure.federation.seeds import round_seed


def participants(cfg: RunConfig, round_index: int, cids: Sequence[int]) -> list[int]:
    """The round's clients: ``ceil(participation * n)`` of ``cids``, drawn from the public seed."""
    k = len(cids)
    m = max(1, math.ceil(cfg.federation.participation * k))
    rng = np.random.default_rng(round_seed(cfg.seed, round_index, 1))
    chosen = sorted(rng.choice(k, size=m, replace=False).tolist())
    return [cids[i] for i in chosen]


def simulated_dropouts(
    cfg: RunConfig, round_index: int, chosen: Sequence[int], phases: Sequence[str]
) -> dict[int, str]:
    """Each chosen client vanishes with probability ``federation.dropout`` at a random phase."""
    p = cfg.federation.dropout
    rng = np.random.default_rng(round_seed(cfg.seed, round_index, 2))
    drops = {}
    for cid in chosen:
        if rng.random() < p:
            drops[cid] = phases[int(rng.integers(len(phases)))]
    return drops
