"""The final model file: ``(architecture, seed, packed mask bits)``, or dense weights."""

from __future__ import annotations

from pathlib import Path

import torch

from prism_secure.app.generator import final_mask, label_count
from prism_secure.artifacts.model_file import ModelHeader, save_model
from prism_secure.config import RunConfig
from prism_secure.data.datasets import IMAGE_SHAPES


def export_model(cfg: RunConfig, scores: torch.Tensor, path: Path) -> int:
    """Write the final model file (dense weights, or the ``final_mask`` bits); its size in bytes."""
    header = ModelHeader(
        kind="dense" if cfg.model.dense else "mask",
        model=cfg.model,
        weight_seed=cfg.weight_seed,
        channels=IMAGE_SHAPES[cfg.data.dataset][0],
        num_params=scores.numel(),
        dataset=cfg.data.dataset,
        num_classes=label_count(cfg),
    )
    payload = scores.numpy() if cfg.model.dense else final_mask(cfg, scores)
    return save_model(path, header, payload)
