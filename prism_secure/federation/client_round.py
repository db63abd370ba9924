"""A client's part in one round, the same under every engine: train locally, sample one mask."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from prism_secure.config import RunConfig
from prism_secure.features.base import FeatureMap
from prism_secure.features.moments import ClassMoments, FeatureMoments
from prism_secure.federation.seeds import round_seed
from prism_secure.models.generators import MaskedGenerator
from prism_secure.training.client import LocalResult, train_locally


@dataclass
class Client:
    """A client as training sees it: its id and its released target, never its record count."""

    cid: int
    target: FeatureMoments | ClassMoments


def client_round(
    cfg: RunConfig,
    generator: MaskedGenerator,
    feature_map: FeatureMap,
    client: Client,
    scores: torch.Tensor,
    round_index: int,
) -> LocalResult:
    """Local training from the global ``scores``; its randomness comes from (seed, round, id)."""
    seed = round_seed(cfg.seed, round_index, 100 + client.cid)
    return train_locally(generator, feature_map, client.target, scores, cfg.training, seed)
