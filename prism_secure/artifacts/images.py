"""Sample grids as PNG files, written atomically."""

from __future__ import annotations

import io
from pathlib import Path

import torch
from PIL import Image
from torchvision.utils import make_grid

from prism_secure.artifacts.atomic import write_bytes_atomic


def save_grid(images: torch.Tensor, path: Path, nrow: int = 8) -> None:
    grid = make_grid(images.clamp(-1, 1), nrow=nrow, normalize=True, value_range=(-1, 1), padding=2)
    array = (grid.permute(1, 2, 0).mul(255).round().to(torch.uint8)).numpy()
    if array.shape[2] == 1:
        array = array[:, :, 0]
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    write_bytes_atomic(Path(path), buf.getvalue())
