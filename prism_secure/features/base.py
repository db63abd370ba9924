"""Feature maps for moment matching: fixed, data-independent functions of an image.

Data independence matters for privacy: a map fitted to private data would itself leak, so every
map here is built from a public seed (or from public ImageNet weights) and nothing else.
"""

from __future__ import annotations

import torch
from torch import nn


class FeatureMap(nn.Module):
    """Maps images in [-1, 1] of shape (N, C, H, W) to per-example vectors (N, D)."""

    dim: int

    def __init__(self) -> None:
        super().__init__()
        self.requires_grad_(False)

    def train(self, mode: bool = True) -> FeatureMap:
        """Always evaluation mode: a pretrained map's batch norms must keep their statistics."""
        return super().train(False)

    @torch.no_grad()
    def encode_all(self, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        """Features of a whole client dataset, batched to bound memory."""
        device = next(iter(self.buffers()), torch.empty(0)).device
        chunks = [
            self(images[i : i + batch_size].to(device)).cpu()
            for i in range(0, images.shape[0], batch_size)
        ]
        return torch.cat(chunks) if chunks else torch.empty(0, self.dim)
