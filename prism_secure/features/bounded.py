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

import torch
import torch.nn.functional as F

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
