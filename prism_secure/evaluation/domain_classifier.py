"""A small CNN classifier per dataset: its penultimate layer is the fast "domain" feature space.

Inception costs ~0.2 s per image on a CPU; this net costs well under a millisecond, so it can
score samples every round of training. It is trained once on one split (a fixed seed, 1 epoch
by default; the training split for ``evaluate``, the split no client holds for the per-round
tracking of a run, so that figures in covered files never read a client's records). Its
``state_dict`` is cached with ``torch.save`` and read back with ``torch.load(weights_only=True)``;
a JSON file beside it records how it was trained and its accuracy on the other split.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from prism_secure.artifacts.atomic import write_atomic, write_text_atomic
from prism_secure.evaluation.images import uint8_to_unit
from prism_secure.evaluation.real_data import load_real, num_classes
from prism_secure.evaluation.reference_cache import resolve_cache_dir
from prism_secure.evaluation.runtime import torch_threads

ARCH_VERSION = "cnn16-32-64-stride2-fc128-v1"


class ClassifierSpec(BaseModel):
    """How the domain classifier is trained; its hash names the cached weights."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    epochs: int = Field(default=1, ge=1)
    batch_size: int = Field(default=128, ge=8)
    lr: float = Field(default=3e-3, gt=0)
    train_limit: int | None = Field(
        default=None, ge=100, description="Train on the first N of a fixed shuffle (tests)."
    )
    seed: int = 0
    split: Literal["train", "test"] = Field(
        default="train", description="The split it is trained on; accuracy is on the other."
    )
    arch: str = ARCH_VERSION

    def key(self, dataset: str) -> str:
        blob = json.dumps({"dataset": dataset, **self.model_dump()}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


class ClassifierMeta(BaseModel):
    dataset: str
    spec: ClassifierSpec
    num_classes: int
    in_channels: int
    image_size: int
    test_accuracy: float
    train_seconds: float
    train_images: int
    torch_version: str


class DomainCNN(nn.Module):
    """Three stride-2 conv layers, a 128-d feature layer, a linear head.

    Strided convolutions instead of max-pooling make an epoch ~3x cheaper on a CPU.
    """

    feature_dim = 128

    def __init__(self, in_channels: int, classes: int, image_size: int = 28) -> None:
        super().__init__()
        self.in_channels, self.image_size = in_channels, image_size
        side = image_size
        for _ in range(3):
            side = (side + 1) // 2
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, 16, 3, stride=2, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(16, 32, 3, stride=2, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(32, 64, 3, stride=2, padding=1),
            nn.ReLU(inplace=True),
            nn.Flatten(),
            nn.Linear(64 * side * side, self.feature_dim),
            nn.ReLU(inplace=True),
        )
        self.head = nn.Linear(self.feature_dim, classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))

    def features_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.body(x)
        return f, self.head(f)


def _paths(cache_dir: Path | str | None, dataset: str, spec: ClassifierSpec) -> tuple[Path, Path]:
    base = resolve_cache_dir(cache_dir) / "domain" / f"{dataset}-{spec.key(dataset)}"
    return base.with_suffix(".pt"), base.with_suffix(".json")


@torch.inference_mode()
def accuracy(model: DomainCNN, images_uint8: torch.Tensor, labels: torch.Tensor) -> float:
    correct = 0
    for lo in range(0, images_uint8.shape[0], 1000):
        logits = model(uint8_to_unit(images_uint8[lo : lo + 1000]))
        correct += int((logits.argmax(1) == labels[lo : lo + 1000]).sum())
    return correct / images_uint8.shape[0]


def train_classifier(
    dataset: str, data_root: Path | str | None, spec: ClassifierSpec
) -> tuple[DomainCNN, ClassifierMeta]:
    """Train on ``spec.split`` with a fixed seed; report accuracy on the other split."""
    train_x, train_y = load_real(dataset, data_root, train=spec.split == "train")
    gen = torch.Generator().manual_seed(spec.seed)
    if spec.train_limit is not None:
        idx = torch.randperm(train_x.shape[0], generator=gen)[: spec.train_limit]
        train_x, train_y = train_x[idx], train_y[idx]
    torch.manual_seed(spec.seed)
    model = DomainCNN(train_x.shape[1], num_classes(dataset), train_x.shape[-1])
    opt = torch.optim.Adam(model.parameters(), lr=spec.lr)
    start = time.perf_counter()
    model.train()
    for _ in range(spec.epochs):
        order = torch.randperm(train_x.shape[0], generator=gen)
        for lo in range(0, train_x.shape[0], spec.batch_size):
            idx = order[lo : lo + spec.batch_size]
            loss = nn.functional.cross_entropy(model(uint8_to_unit(train_x[idx])), train_y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    seconds = time.perf_counter() - start
    model.eval()
    test_x, test_y = load_real(dataset, data_root, train=spec.split != "train")
    meta = ClassifierMeta(
        dataset=dataset,
        spec=spec,
        num_classes=num_classes(dataset),
        in_channels=train_x.shape[1],
        image_size=train_x.shape[-1],
        test_accuracy=accuracy(model, test_x, test_y),
        train_seconds=round(seconds, 2),
        train_images=train_x.shape[0] * spec.epochs,
        torch_version=torch.__version__,
    )
    return model, meta


_memo: dict[tuple[str, str], tuple[DomainCNN, ClassifierMeta]] = {}


def load_or_train_classifier(
    dataset: str,
    data_root: Path | str | None,
    cache_dir: Path | str | None = None,
    spec: ClassifierSpec | None = None,
    threads: int | None = None,
) -> tuple[DomainCNN, ClassifierMeta]:
    """The cached classifier for ``dataset`` (memoised in-process), training it on first use."""
    spec = spec or ClassifierSpec()
    weights, meta_path = _paths(cache_dir, dataset, spec)
    memo_key = (str(weights.resolve()), spec.key(dataset))
    if memo_key in _memo:
        return _memo[memo_key]
    if weights.is_file() and meta_path.is_file():
        meta = ClassifierMeta.model_validate_json(meta_path.read_text())
        model = DomainCNN(meta.in_channels, meta.num_classes, meta.image_size)
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        model.eval()
    else:
        with torch_threads(threads):
            model, meta = train_classifier(dataset, data_root, spec)
        write_atomic(weights, lambda fh: torch.save(model.state_dict(), fh))
        write_text_atomic(meta_path, meta.model_dump_json(indent=2) + "\n")
    _memo[memo_key] = (model, meta)
    return model, meta
