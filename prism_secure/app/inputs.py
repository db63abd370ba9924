"""Everything a run needs before its folder exists: data, partition, generator, feature map.

Built first so that bad input (a missing dataset, an impossible partition, an unknown
architecture) fails before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from prism_secure.app.clients import record_bound
from prism_secure.app.generator import build_run_generator
from prism_secure.artifacts.schema import Membership
from prism_secure.config import RunConfig
from prism_secure.data.datasets import IMAGE_SHAPES, ImageData, load_images
from prism_secure.data.partition import partition
from prism_secure.features.base import FeatureMap
from prism_secure.features.factory import build_feature_map
from prism_secure.models.generators import MaskedGenerator


@dataclass
class RunInputs:
    data: ImageData
    membership: Membership
    generator: MaskedGenerator
    feature_map: FeatureMap
    bound: int  # the public bound on records per client


def setup_threads(cfg: RunConfig) -> None:
    if cfg.training.threads:
        torch.set_num_threads(cfg.training.threads)


def load_inputs(cfg: RunConfig) -> RunInputs:
    """Load and partition the data, and build the models every party rebuilds from the config."""
    data = load_images(cfg.data, train=cfg.data.split == "train", attribute=cfg.partition.attribute)
    bound = record_bound(cfg, len(data.labels))
    membership = partition(
        data.labels.numpy(),
        cfg.partition,
        cfg.seed,
        dataset=cfg.data.dataset,
        holdout=cfg.data.holdout,
        max_records_per_client=cfg.data.max_records_per_client,
        canaries=cfg.audit.canaries,
        split=cfg.data.split,
        record_bound=bound,
    )
    device = cfg.training.device
    generator = build_run_generator(cfg).to(device)
    feature_map = build_feature_map(cfg.features, IMAGE_SHAPES[cfg.data.dataset]).to(device)
    return RunInputs(data, membership, generator, feature_map, bound)
