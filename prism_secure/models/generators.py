"""Generators built from masked layers: a CPU-sized DCGAN at 28x28 and the paper's ResNet at 32x32.

Batch norm has no affine parameters and always uses batch statistics, so the masks are the only
learned state and every party's model is fully described by ``(architecture, seed, scores)``.

A conditional generator (``num_classes > 0``) also reads a one-hot label through masked weights
like every other. Where batch norm follows the first layer (DCGAN28) the label enters *after* it:
batch statistics would cancel a label shared by the whole batch, and with it ``--label``.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from prism_secure.config import ModelConfig
from prism_secure.models.masked import (
    MaskedConv2d,
    MaskedConvTranspose2d,
    MaskedLayer,
    MaskedLinear,
    MaskMode,
)

DEFAULT_WIDTH = {"dcgan28": 16, "resnet32": 232}


def _bn2d(ch: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(ch, affine=False, track_running_stats=False)


def balanced_labels(n: int, num_classes: int, device: torch.device | None = None) -> torch.Tensor:
    """0, 1, ..., K-1, 0, 1, ...: every class equally often (up to one), in a fixed order."""
    return torch.arange(n, device=device) % num_classes


class MaskedGenerator(nn.Module):
    """Base class: the list of masked layers, their scores as one vector, and sampling."""

    latent_dim: int
    out_shape: tuple[int, int, int]
    num_classes: int = 0

    def label_onehot(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor | None:
        """One-hot labels for the rows of ``z`` (balanced if none given); None if unconditional."""
        if not self.num_classes:
            if labels is not None:
                raise ValueError("labels given to an unconditional generator")
            return None
        if labels is None:
            labels = balanced_labels(z.shape[0], self.num_classes, z.device)
        if labels.shape != (z.shape[0],):
            raise ValueError(f"need one label per row of z, got shape {tuple(labels.shape)}")
        onehot = F.one_hot(labels.to(device=z.device, dtype=torch.long), self.num_classes)
        return onehot.to(z.dtype)

    def masked_layers(self) -> Iterator[MaskedLayer]:
        # ``modules()`` yields each module once, so an aliased layer is never counted twice.
        yield from (m for m in self.modules() if isinstance(m, MaskedLayer))

    @property
    def num_maskable(self) -> int:
        return sum(m.num_maskable for m in self.masked_layers())

    def set_mode(self, mode: MaskMode) -> None:
        for m in self.masked_layers():
            m.mode = mode

    def trainable(self) -> list[nn.Parameter]:
        return [m.weight if m.dense else m.scores for m in self.masked_layers()]  # type: ignore[misc]

    def get_vector(self) -> torch.Tensor:
        """All trainable values (scores, or dense weights) flattened in layer order."""
        return torch.cat([p.detach().reshape(-1) for p in self.trainable()])

    def set_vector(self, vec: torch.Tensor) -> None:
        offset = 0
        with torch.no_grad():
            for p in self.trainable():
                n = p.numel()
                p.copy_(vec[offset : offset + n].reshape(p.shape).to(p.device, p.dtype))
                offset += n
        if offset != vec.numel():
            raise ValueError(f"vector has {vec.numel()} values, model needs {offset}")

    def set_fixed_mask(self, bits: np.ndarray | torch.Tensor) -> None:
        """Freeze one binary mask (e.g. an exported model) and switch to ``fixed`` mode."""
        flat = torch.as_tensor(np.asarray(bits), dtype=torch.float32).reshape(-1)
        offset = 0
        for m in self.masked_layers():
            n = m.num_maskable
            m.fixed_mask = flat[offset : offset + n].reshape(m.weight.shape).to(m.weight.device)
            offset += n
        if offset != flat.numel():
            raise ValueError(f"mask has {flat.numel()} bits, model needs {offset}")
        self.set_mode("fixed")

    @torch.no_grad()
    def sample(
        self,
        n: int,
        seed: int | None = None,
        batch_size: int = 500,
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``n`` images in [-1, 1]; batch norm uses batch statistics, so batches stay large.

        A conditional generator draws class-balanced samples unless ``labels`` says otherwise.
        """
        device = next(iter(self.masked_layers())).weight.device
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        if self.num_classes and labels is None:
            labels = balanced_labels(n, self.num_classes)
        out = []
        for start in range(0, n, batch_size):
            b = min(batch_size, n - start)
            z = torch.randn(max(b, 2), self.latent_dim, generator=gen).to(device)
            y = None
            if labels is not None:
                y = labels[start : start + b]
                y = torch.cat([y, y[:1].expand(max(b, 2) - b)]).to(device)
            out.append(self(z, y)[:b].cpu())
        return torch.cat(out) if out else torch.empty(0, *self.out_shape)


class DCGAN28(MaskedGenerator):
    """z -> 7x7 -> 14x14 -> 28x28, one channel, sized for CPUs.

    Most weights sit in the first (linear) layer, where they cost few FLOPs; convolutions at
    high resolution stay narrow because their cost grows with every pixel they touch.
    """

    def __init__(
        self, latent_dim: int, width: int, seed: int, dense: bool = False, num_classes: int = 0
    ) -> None:
        super().__init__()
        self.latent_dim, self.out_shape, self.width = latent_dim, (1, 28, 28), width
        self.num_classes = num_classes
        kw = {"arch": "dcgan28", "seed": seed, "dense": dense}
        w = width
        self.fc = MaskedLinear(latent_dim, 8 * w * 7 * 7, name="fc", **kw)
        self.label = (
            MaskedLinear(num_classes, 8 * w * 7 * 7, name="label", **kw) if num_classes else None
        )
        self.bn0 = nn.BatchNorm1d(8 * w * 7 * 7, affine=False, track_running_stats=False)
        self.up1 = MaskedConvTranspose2d(8 * w, 2 * w, 4, 2, 1, name="up1", **kw)
        self.bn1 = _bn2d(2 * w)
        self.up2 = MaskedConvTranspose2d(2 * w, w, 4, 2, 1, name="up2", **kw)
        self.bn2 = _bn2d(w)
        self.out = MaskedConv2d(w, 1, 3, 1, 1, name="out", **kw)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = self.bn0(self.fc(z))
        onehot = self.label_onehot(z, labels)
        if self.label is not None and onehot is not None:
            h = h + self.label(onehot)
        x = F.relu(h).view(z.shape[0], -1, 7, 7)
        x = F.relu(self.bn1(self.up1(x)))
        x = F.relu(self.bn2(self.up2(x)))
        return torch.tanh(self.out(x))


class _UpBlock(nn.Module):
    """Pre-activation residual block with nearest upsampling and a learned 1x1 shortcut."""

    def __init__(self, ch: int, name: str, **kw: object) -> None:
        super().__init__()
        self.bn1, self.bn2 = _bn2d(ch), _bn2d(ch)
        self.c1 = MaskedConv2d(ch, ch, 3, 1, 1, name=f"{name}.c1", **kw)
        self.c2 = MaskedConv2d(ch, ch, 3, 1, 1, name=f"{name}.c2", **kw)
        self.sc = MaskedConv2d(ch, ch, 1, 1, 0, name=f"{name}.sc", **kw)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.interpolate(F.relu(self.bn1(x)), scale_factor=2)
        h = self.c2(F.relu(self.bn2(self.c1(h))))
        return h + self.sc(F.interpolate(x, scale_factor=2))


class ResNet32(MaskedGenerator):
    """The paper's 32x32 ResNet generator: 4x4 -> three up-blocks -> 32x32 RGB."""

    def __init__(
        self,
        latent_dim: int,
        width: int,
        seed: int,
        dense: bool = False,
        channels: int = 3,
        num_classes: int = 0,
    ) -> None:
        super().__init__()
        self.latent_dim, self.out_shape, self.width = latent_dim, (channels, 32, 32), width
        self.num_classes = num_classes
        kw = {"arch": "resnet32", "seed": seed, "dense": dense}
        self.fc = MaskedLinear(latent_dim + num_classes, 16 * width, name="fc", **kw)
        self.blocks = nn.Sequential(*[_UpBlock(width, f"b{i}", **kw) for i in range(3)])
        self.bn = _bn2d(width)
        self.out = MaskedConv2d(width, channels, 3, 1, 1, name="out", **kw)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        onehot = self.label_onehot(z, labels)
        if onehot is not None:
            z = torch.cat([z, onehot], dim=1)
        x = self.fc(z).view(z.shape[0], -1, 4, 4)
        x = self.blocks(x)
        return torch.tanh(self.out(F.relu(self.bn(x))))


def build_generator(
    cfg: ModelConfig, seed: int, channels: int = 1, num_classes: int = 0
) -> MaskedGenerator:
    """Rebuild the generator every party shares from its config, weight seed and label count.

    ``num_classes`` is 0 for an unconditional generator (a run's: ``runner.label_count``).
    """
    width = cfg.width or DEFAULT_WIDTH[cfg.arch]
    if cfg.arch == "dcgan28":
        return DCGAN28(cfg.latent_dim, width, seed, cfg.dense, num_classes)
    return ResNet32(cfg.latent_dim, width, seed, cfg.dense, channels, num_classes)
