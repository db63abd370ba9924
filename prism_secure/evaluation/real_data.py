"""Real images of a dataset split as one uint8 (N, C, H, W) tensor plus integer labels.

Reads through the project's loader (``prism_secure.data.datasets.load_images``, torchvision
underneath) with ``download=False``: evaluation never fetches data behind a user's back. Images are
turned back into uint8 exactly (the loader maps ``x / 127.5 - 1``). Subsets are a fixed function of
(split size, n), so every machine compares against the same reference images.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch

from prism_secure.config import DataConfig
from prism_secure.data.datasets import load_images
from prism_secure.data.roots import resolve_data_root
from prism_secure.evaluation.errors import EvaluationError
from prism_secure.evaluation.images import to_uint8

DATASETS = ("mnist", "fashion_mnist", "cifar10", "celeba")
SUBSET_SEED = 20250308  # fixed: reference subsets must not depend on the caller's seed
SUBSET_RULE = f"randperm{SUBSET_SEED}"


def check_dataset(dataset: str) -> str:
    if dataset not in DATASETS:
        raise EvaluationError(f"unknown dataset {dataset!r}; expected one of {', '.join(DATASETS)}")
    return dataset


@lru_cache(maxsize=4)
def _load_split(dataset: str, root: str, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    cfg = DataConfig(dataset=dataset, root=Path(root), download=False)
    data = load_images(cfg, train=train)
    return to_uint8(data.images), data.labels


def load_real(
    dataset: str, data_root: Path | str | None, train: bool, n: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images (N, C, H, W) and labels of a split; a fixed subset of ``n`` if given.

    The root is ``data_root``, else ``$PRISM_SECURE_DATA``, else the user cache folder.
    """
    check_dataset(dataset)
    root = resolve_data_root(Path(data_root) if data_root is not None else None)
    images, labels = _load_split(dataset, str(root), train)
    if n is None or n >= images.shape[0]:
        return images, labels
    gen = torch.Generator().manual_seed(SUBSET_SEED)
    idx = torch.randperm(images.shape[0], generator=gen)[:n]
    return images[idx], labels[idx]


def num_classes(dataset: str) -> int:
    """Classes of the domain classifier: digits/items/objects, or CelebA's Male attribute."""
    return 2 if check_dataset(dataset) == "celeba" else 10
