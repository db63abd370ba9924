"""What every party rebuilds from the configuration alone: the generator and the start scores.

Frozen weights never travel: a client, the server, an exporter and an auditor all call
:func:`build_run_generator` with the same config and get the same network, bit for bit.
"""

from __future__ import annotations

import numpy as np
import torch

from prism_secure.config import RunConfig
from prism_secure.data.datasets import IMAGE_SHAPES, NUM_CLASSES
from prism_secure.federation.seeds import round_seed
from prism_secure.models.generators import MaskedGenerator, build_generator


def label_count(cfg: RunConfig) -> int:
    """Labels the run's generator reads: the dataset's when conditional, else 0."""
    return NUM_CLASSES[cfg.data.dataset] if cfg.model.conditional else 0


def build_run_generator(cfg: RunConfig) -> MaskedGenerator:
    """The run's generator on the CPU, as every party rebuilds it from the config."""
    channels = IMAGE_SHAPES[cfg.data.dataset][0]
    return build_generator(cfg.model, cfg.weight_seed, channels, label_count(cfg))


def initial_scores(cfg: RunConfig, generator: MaskedGenerator) -> torch.Tensor:
    """Scores start at N(0, 1) (the paper); the dense baseline starts from its own init."""
    if cfg.model.dense:
        return generator.get_vector().clone()
    gen = torch.Generator().manual_seed(round_seed(cfg.seed, 0, 0))
    return torch.randn(generator.num_maskable, generator=gen)


def final_mask(cfg: RunConfig, scores: torch.Tensor) -> np.ndarray:
    """The binary mask a model is exported (and sampled during training) with.

    The mode (theta > 0.5) is the default: a single Bernoulli draw adds mask noise on top of
    what training learned (domain FID 158-160 for two draws against 136 for the mode on the
    default run). Both are functions of the global scores only, so DP is unaffected.
    """
    if cfg.output.final_mask == "mode":
        return (scores > 0).to(torch.uint8).numpy()
    gen = torch.Generator().manual_seed(round_seed(cfg.seed, cfg.federation.rounds + 1, 3))
    return torch.bernoulli(torch.sigmoid(scores), generator=gen).to(torch.uint8).numpy()


def set_exported(cfg: RunConfig, generator: MaskedGenerator, scores: torch.Tensor) -> None:
    """Put ``generator`` in the state the exported model will have: final mask or dense weights."""
    generator.set_vector(scores)
    if cfg.model.dense:
        generator.set_mode("dense")
    else:
        generator.set_fixed_mask(final_mask(cfg, scores))
