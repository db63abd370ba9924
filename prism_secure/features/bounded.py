"""Pooled activations of a pretrained network, squashed so every record's norm is provably < 1.

The release's sensitivity rests on each record's feature vector having norm at most the clip
norm C (1 by default). Clipping enforces that for any map, but a clipped record's features are
rescaled while the generator's are not, which biases the target. Here each pooled activation
``a`` becomes ``tanh(a / SQUASH)``, an entry in (-1, 1); a stage of E entries is divided by
``sqrt(E)`` and ``n`` stages by ``sqrt(n)``, so the whole vector has norm below 1 for every
image, real or generated, and clipping at C >= 1 never binds. ``SQUASH`` is a fixed public
constant, a round number near the typical size of the activations: it is never computed from
images, so one record cannot move another's features.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

SQUASH = 10.0


def bounded_stage(h: torch.Tensor, pool: int | None, squash: float = SQUASH) -> torch.Tensor:
    """(N, C, H, W) activations to (N, E) entries in (-1, 1) / sqrt(E); ``pool=None`` flattens."""
    if pool is not None:
        size = (min(pool, h.shape[2]), min(pool, h.shape[3]))
        h = F.adaptive_avg_pool2d(h, size)
    flat = h.flatten(1)
    return torch.tanh(flat / squash) / math.sqrt(flat.shape[1])


def join_stages(stages: list[torch.Tensor]) -> torch.Tensor:
    """Concatenate bounded stages so the whole has norm below 1."""
    return torch.cat(stages, dim=1) / math.sqrt(len(stages))


def three_channels(x: torch.Tensor) -> torch.Tensor:
    """Grey images as the RGB an ImageNet network reads (the channel repeated)."""
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


def resized(x: torch.Tensor, resolution: int) -> torch.Tensor:
    """Square images at ``resolution`` (bilinear), as the network was set up for."""
    if x.shape[-2:] == (resolution, resolution):
        return x
    return F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False)


def tapped_stages(
    layers: Iterable[nn.Module],
    h: torch.Tensor,
    taps: tuple[int, ...],
    pool: int | None,
    squash: float,
) -> torch.Tensor:
    """Run ``h`` through ``layers``; the bounded stages after the tapped ones, joined."""
    stages = []
    for i, layer in enumerate(layers):
        h = layer(h)
        if i in taps:
            stages.append(bounded_stage(h, pool, squash))
    return join_stages(stages)
