"""Features of a random, untrained convolutional network: a perceptual map that needs no download.

Random conv features respond to local strokes and textures at several scales, which pixel-space
kernels miss; pooled activations from each stage are concatenated and scaled to about unit norm.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from prism_secure.features.base import FeatureMap


class RandomConvFeatures(FeatureMap):
    def __init__(self, in_channels: int, width: int, seed: int, pool: int = 4) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        chans = [in_channels, width, 2 * width, 4 * width]
        for i in range(3):
            fan = chans[i] * 9
            w = torch.randn(chans[i + 1], chans[i], 3, 3, generator=gen) * math.sqrt(2.0 / fan)
            self.register_buffer(f"w{i}", w)
        self.pool = pool
        # Stage 1 and 2 pooled to pool x pool, stage 3 globally: shapes of strokes, then parts.
        self.dim = chans[1] * pool * pool + chans[2] * pool * pool + chans[3] * 2
        self.scale = 1.0 / math.sqrt(3.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h1 = F.relu(F.conv2d(x, self.w0, padding=1))
        h2 = F.relu(F.conv2d(F.avg_pool2d(h1, 2), self.w1, padding=1))
        h3 = F.relu(F.conv2d(F.avg_pool2d(h2, 2), self.w2, padding=1))
        parts = [
            F.adaptive_avg_pool2d(h1, self.pool).flatten(1),
            F.adaptive_avg_pool2d(h2, self.pool).flatten(1),
            torch.cat([h3.mean(dim=(2, 3)), h3.amax(dim=(2, 3))], dim=1),
        ]
        # Each stage is divided by its expected norm so no stage dominates the moment loss.
        return torch.cat([p / math.sqrt(p.shape[1]) for p in parts], dim=1) * self.scale
