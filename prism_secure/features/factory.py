"""Builds the configured feature map; every party builds the same one from the public seed."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from prism_secure.config import DEFAULT_PART_WEIGHTS, FeatureConfig
from prism_secure.features.base import FeatureMap
from prism_secure.features.randconv import RandomConvFeatures
from prism_secure.features.rff import RandomFourierFeatures


class ConcatFeatures(FeatureMap):
    """Concatenation scaled so unit-norm parts give a unit-norm whole.

    Part i is multiplied by ``w_i / sqrt(sum w^2)``: a whole of norm at most 1 whenever every
    part's norm is at most 1. Equal weights keep the plain ``1 / sqrt(parts)`` scaling.
    """

    def __init__(self, parts: list[FeatureMap], weights: Sequence[float] | None = None) -> None:
        super().__init__()
        self.parts = torch.nn.ModuleList(parts)
        self.dim = sum(p.dim for p in parts)
        self.scale = 1.0 / math.sqrt(len(parts))
        self.weights: list[float] | None = None
        if weights is not None and len(set(weights)) > 1:
            if len(weights) != len(parts):
                raise ValueError("one weight per part")
            norm = math.sqrt(sum(w * w for w in weights))
            self.weights = [w / norm for w in weights]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.weights is None:
            return torch.cat([p(x) for p in self.parts], dim=1) * self.scale
        return torch.cat([p(x) * w for p, w in zip(self.parts, self.weights, strict=True)], 1)


def _part(name: str, cfg: FeatureConfig, image_shape: tuple[int, int, int]) -> FeatureMap:
    if name == "rff":
        return RandomFourierFeatures(image_shape, cfg.rff_dim, cfg.bandwidths, cfg.seed)
    if name == "randconv":
        return RandomConvFeatures(image_shape[0], cfg.randconv_width, cfg.seed + 1)
    if name == "effnet":
        from prism_secure.features.pretrained import EfficientNetFeatures

        return EfficientNetFeatures(
            cfg.effnet_blocks, cfg.effnet_resolution, cfg.effnet_pool, cfg.effnet_weights
        )
    from prism_secure.features.vgg import VGGFeatures

    return VGGFeatures(cfg.vgg_weights, cfg.vgg_layers, cfg.vgg_resolution, cfg.vgg_pool)


def build_feature_map(cfg: FeatureConfig, image_shape: tuple[int, int, int]) -> FeatureMap:
    names = cfg.parts
    parts = [_part(name, cfg, image_shape) for name in names]
    chosen = {**DEFAULT_PART_WEIGHTS, **cfg.part_weights}
    weights = [chosen.get(name, 1.0) for name in names]
    fmap = parts[0] if len(parts) == 1 else ConcatFeatures(parts, weights)
    return fmap.eval()
