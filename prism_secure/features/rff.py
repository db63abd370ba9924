"""Random Fourier features of pixels at several bandwidths: a Gaussian-kernel mean embedding.

Matching the mean of these features is the MMD with a Gaussian kernel (as in DP-MERF); using
cos and sin pairs gives every example a feature norm of exactly 1, so clipping at 1 is exact.
"""

from __future__ import annotations

import math

import torch

from prism_secure.features.base import FeatureMap


class RandomFourierFeatures(FeatureMap):
    def __init__(
        self, in_shape: tuple[int, int, int], dim: int, bandwidths: list[float], seed: int
    ) -> None:
        super().__init__()
        d_in = math.prod(in_shape)
        per = max(1, dim // (2 * len(bandwidths)))
        gen = torch.Generator().manual_seed(seed)
        # Bandwidths are relative to sqrt(d_in), the scale of pixel distances in [-1, 1] images.
        freqs = [torch.randn(d_in, per, generator=gen) / (b * math.sqrt(d_in)) for b in bandwidths]
        self.register_buffer("freqs", torch.cat(freqs, dim=1))
        self.dim = 2 * per * len(bandwidths)
        self.scale = 1.0 / math.sqrt(per * len(bandwidths))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        proj = x.reshape(x.shape[0], -1) @ self.freqs
        return torch.cat([torch.cos(proj), torch.sin(proj)], dim=1) * self.scale
