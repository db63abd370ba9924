"""Builds the configured feature map; every party builds the same one from the public seed."""

from __future__ import annotations

import math

import torch

from prism_secure.config import FeatureConfig
from prism_secure.features.base import FeatureMap
from prism_secure.features.randconv import RandomConvFeatures
from prism_secure.features.rff import RandomFourierFeatures


class ConcatFeatures(FeatureMap):
    """Concatenation scaled so unit-norm parts give a unit-norm whole."""

    def __init__(self, parts: list[FeatureMap]) -> None:
        super().__init__()
        self.parts = torch.nn.ModuleList(parts)
        self.dim = sum(p.dim for p in parts)
        self.scale = 1.0 / math.sqrt(len(parts))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([p(x) for p in self.parts], dim=1) * self.scale


def build_feature_map(cfg: FeatureConfig, image_shape: tuple[int, int, int]) -> FeatureMap:
    parts: list[FeatureMap] = []
    kinds = cfg.kind.split("+")
    if "rff" in kinds:
        parts.append(RandomFourierFeatures(image_shape, cfg.rff_dim, cfg.bandwidths, cfg.seed))
    if "randconv" in kinds:
        parts.append(RandomConvFeatures(image_shape[0], cfg.randconv_width, cfg.seed + 1))
    if "vgg19bn" in kinds:
        from prism_secure.features.vgg import VGGFeatures

        parts.append(VGGFeatures(cfg.vgg_weights))
    fmap = parts[0] if len(parts) == 1 else ConcatFeatures(parts)
    return fmap.eval()
