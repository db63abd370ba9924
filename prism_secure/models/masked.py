"""Layers whose frozen random weights are gated by learned stochastic binary masks.

Each weight has a real score ``s``; ``theta = sigmoid(s)`` is its keep probability. Training
samples a fresh Bernoulli mask every forward and passes gradients to ``s`` with a
straight-through estimator. ``mode`` switches to a fixed mask (an exported model) or to dense
training of the same architecture (the FedAvg baseline).
"""

from __future__ import annotations

import math
import zlib
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from prism_secure.models.frozen import signed_kaiming_constant

MaskMode = Literal["sample", "fixed", "expected", "dense"]


class MaskedLayer(nn.Module):
    """Common state of a masked layer: frozen ``weight``, ``scores``, and the current mode."""

    weight: torch.Tensor
    fixed_mask: torch.Tensor

    def __init__(
        self, shape: tuple[int, ...], fan: int, *, arch: str, seed: int, name: str, dense: bool
    ) -> None:
        super().__init__()
        self.dense = dense
        self.mode: MaskMode = "dense" if dense else "sample"
        frozen = signed_kaiming_constant(shape, arch=arch, seed=seed, name=name, fan=fan)
        if dense:
            # The baseline trains ordinary weights from the usual Kaiming-normal start.
            gen = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(name.encode()))
            init = torch.randn(shape, generator=gen) * math.sqrt(2.0 / fan)
            self.weight = nn.Parameter(init)
        else:
            self.register_buffer("weight", frozen, persistent=False)
            self.scores = nn.Parameter(torch.zeros(shape))
            self.register_buffer("fixed_mask", torch.ones(shape), persistent=False)

    @property
    def num_maskable(self) -> int:
        return self.weight.numel()

    def effective_weight(self) -> torch.Tensor:
        if self.mode == "dense":
            return self.weight
        if self.mode == "fixed":
            return self.weight * self.fixed_mask
        theta = torch.sigmoid(self.scores)
        if self.mode == "expected":
            return self.weight * theta
        mask = torch.bernoulli(theta.detach())
        # Straight-through: forward uses the sample, backward sees d mask / d theta = 1.
        return self.weight * (mask + theta - theta.detach())


class MaskedLinear(MaskedLayer):
    def __init__(self, in_features: int, out_features: int, **kw: object) -> None:
        super().__init__((out_features, in_features), in_features, **kw)  # type: ignore[arg-type]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.effective_weight())


class MaskedConv2d(MaskedLayer):
    def __init__(
        self, in_ch: int, out_ch: int, kernel: int, stride: int = 1, padding: int = 0, **kw: object
    ) -> None:
        super().__init__((out_ch, in_ch, kernel, kernel), in_ch * kernel * kernel, **kw)  # type: ignore[arg-type]
        self.stride, self.padding = stride, padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.effective_weight(), stride=self.stride, padding=self.padding)


class MaskedConvTranspose2d(MaskedLayer):
    def __init__(
        self, in_ch: int, out_ch: int, kernel: int, stride: int = 1, padding: int = 0, **kw: object
    ) -> None:
        # torch's Kaiming fan-in for a transposed conv weight (in, out, k, k) is out * k * k.
        super().__init__((in_ch, out_ch, kernel, kernel), out_ch * kernel * kernel, **kw)  # type: ignore[arg-type]
        self.stride, self.padding = stride, padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv_transpose2d(
            x, self.effective_weight(), stride=self.stride, padding=self.padding
        )
