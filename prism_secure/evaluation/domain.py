"""Fast domain metrics: FID in the domain classifier's feature space and its label histogram.

Meant to run every round of training (milliseconds for hundreds of samples once the classifier
and the test-split statistics are cached). Not comparable to Inception FID or across datasets.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import BaseModel

from prism_secure.evaluation.domain_classifier import (
    ClassifierSpec,
    DomainCNN,
    load_or_train_classifier,
)
from prism_secure.evaluation.errors import EvaluationError
from prism_secure.evaluation.fid import GaussianStats, fid_from_stats
from prism_secure.evaluation.images import check_images, to_uint8, uint8_to_unit
from prism_secure.evaluation.real_data import check_dataset, load_real
from prism_secure.evaluation.reference_cache import FeatureCache
from prism_secure.evaluation.runtime import torch_threads

# A class counts as produced when it gets at least this fraction of its uniform share (1/C).
COVERAGE_FRACTION_OF_UNIFORM = 0.25


class DomainMetrics(BaseModel):
    n: int
    domain_fid: float
    num_classes: int
    class_shares: list[float]
    classes_covered: int
    coverage_threshold: float
    label_entropy: float
    label_kl_uniform: float
    classifier_test_accuracy: float


@torch.inference_mode()
def classifier_outputs(
    model: DomainCNN, images: torch.Tensor, batch: int = 1000
) -> tuple[np.ndarray, np.ndarray]:
    """(features (N, 128) float32, predicted labels (N,)) for float [-1, 1] or uint8 images."""
    images = to_uint8(check_images(images))
    if images.shape[1] != model.in_channels:
        raise EvaluationError(
            f"images have {images.shape[1]} channels; the domain classifier expects "
            f"{model.in_channels}"
        )
    feats, preds = [], []
    for lo in range(0, images.shape[0], batch):
        x = uint8_to_unit(images[lo : lo + batch].cpu())
        if x.shape[-2:] != (model.image_size, model.image_size):
            # e.g. a 32x32 generator on 28x28 MNIST: compare at the classifier's resolution.
            size = (model.image_size, model.image_size)
            x = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
        f, logits = model.features_and_logits(x)
        feats.append(f.numpy())
        preds.append(logits.argmax(1).numpy())
    return np.concatenate(feats).astype(np.float32), np.concatenate(preds)


def domain_reference(
    model: DomainCNN,
    spec: ClassifierSpec,
    dataset: str,
    data_root: Path | str | None,
    cache: FeatureCache,
    split: str = "test",
) -> GaussianStats:
    """Stats of a whole split in the classifier's feature space, cached on disk."""
    test_x, _ = load_real(dataset, data_root, train=split == "train")
    _, stats, _ = cache.get_or_compute(
        dataset=dataset,
        split=split,
        n=test_x.shape[0],
        network_id=f"domain-{spec.key(dataset)}",
        extra=spec.arch,
        compute=lambda: classifier_outputs(model, test_x)[0],
    )
    return stats


def label_histogram_metrics(preds: np.ndarray, classes: int) -> dict[str, float | int | list]:
    """Shares per class, classes covered, entropy (nats) and KL(shares || uniform)."""
    shares = np.bincount(preds, minlength=classes)[:classes] / max(len(preds), 1)
    nonzero = shares[shares > 0]
    entropy = float(-(nonzero * np.log(nonzero)).sum())
    threshold = COVERAGE_FRACTION_OF_UNIFORM / classes
    return {
        "class_shares": [float(s) for s in shares],
        "classes_covered": int((shares >= threshold).sum()),
        "coverage_threshold": threshold,
        "label_entropy": entropy,
        "label_kl_uniform": float(math.log(classes) - entropy),
    }


def domain_metrics(
    images: torch.Tensor,
    dataset: str,
    data_root: Path | str | None,
    cache_dir: Path | str | None = None,
    *,
    spec: ClassifierSpec | None = None,
    threads: int | None = None,
    reference_split: str = "test",
) -> dict:
    """Domain FID against a split (test by default) and the label histogram of ``images``."""
    check_dataset(dataset)
    spec = spec or ClassifierSpec()
    model, meta = load_or_train_classifier(dataset, data_root, cache_dir, spec, threads)
    with torch_threads(threads):
        cache = FeatureCache(cache_dir)
        ref = domain_reference(model, spec, dataset, data_root, cache, reference_split)
        feats, preds = classifier_outputs(model, images)
    result = DomainMetrics(
        n=int(feats.shape[0]),
        domain_fid=fid_from_stats(GaussianStats.from_features(feats), ref),
        num_classes=meta.num_classes,
        classifier_test_accuracy=meta.test_accuracy,
        **label_histogram_metrics(preds, meta.num_classes),
    )
    return result.model_dump()
