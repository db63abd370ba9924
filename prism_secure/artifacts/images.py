"""Sample grids as PNG files, written atomically."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from PIL import Image
from torchvision.utils import make_grid

from prism_secure.artifacts.atomic import write_bytes_atomic

if TYPE_CHECKING:
    from prism_secure.models.generators import MaskedGenerator


def grid_columns(generator: MaskedGenerator) -> int:
    """8, or one column per class for a conditional generator of 4-16 classes.

    Balanced labels cycle 0..K-1, so with K columns each column holds one class.
    """
    k = generator.num_classes
    return k if 4 <= k <= 16 else 8


def save_grid(images: torch.Tensor, path: Path, nrow: int = 8) -> None:
    grid = make_grid(images.clamp(-1, 1), nrow=nrow, normalize=True, value_range=(-1, 1), padding=2)
    array = (grid.permute(1, 2, 0).mul(255).round().to(torch.uint8)).numpy()
    if array.shape[2] == 1:
        array = array[:, :, 0]
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    write_bytes_atomic(Path(path), buf.getvalue())
