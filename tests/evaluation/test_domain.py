"""The domain classifier and its metrics on real MNIST (a small training subset keeps it fast)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from prism_secure.evaluation import ClassifierSpec, domain_metrics, load_or_train_classifier
from prism_secure.evaluation import domain_classifier as dc
from prism_secure.evaluation.real_data import load_real

SPEC = ClassifierSpec(train_limit=3000, batch_size=64)


@pytest.fixture(scope="session")
def domain_cache(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Path:
    cache = tmp_path_factory.mktemp("domain-cache")
    load_or_train_classifier("mnist", data_root, cache, SPEC)
    return cache


def test_classifier_is_cached_with_metadata(domain_cache: Path, data_root: Path, monkeypatch):
    _, meta = load_or_train_classifier("mnist", data_root, domain_cache, SPEC)
    assert meta.test_accuracy > 0.85 and meta.train_images == 3000
    files = sorted(p.suffix for p in (domain_cache / "domain").iterdir())
    assert files == [".json", ".pt"]
    # A fresh process (empty memo) reads the weights back instead of training again.
    monkeypatch.setattr(dc, "_memo", {})
    monkeypatch.setattr(dc, "train_classifier", lambda *a, **k: pytest.fail("retrained"))
    model, meta2 = load_or_train_classifier("mnist", data_root, domain_cache, SPEC)
    assert meta2 == meta
    test_x, test_y = load_real("mnist", data_root, train=False, n=500)
    assert dc.accuracy(model, test_x, test_y) > 0.85


def test_domain_metrics_real_vs_noise_vs_collapse(domain_cache: Path, data_root: Path) -> None:
    real, _ = load_real("mnist", data_root, train=True, n=400)
    good = domain_metrics(real.float() / 127.5 - 1, "mnist", data_root, domain_cache, spec=SPEC)
    noise = torch.rand(400, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    bad = domain_metrics(noise, "mnist", data_root, domain_cache, spec=SPEC)
    assert good["domain_fid"] * 5 < bad["domain_fid"]
    assert good["classes_covered"] == 10 and good["label_kl_uniform"] < 0.1
    ones, labels = load_real("mnist", data_root, train=False)
    collapsed = ones[labels == 1][:300]
    one_class = domain_metrics(collapsed, "mnist", data_root, domain_cache, spec=SPEC)
    assert one_class["classes_covered"] <= 2 and one_class["label_kl_uniform"] > 1.5
    assert one_class["domain_fid"] > good["domain_fid"]
    # 32x32 samples (a resnet32 generator on MNIST) are resized to the classifier's 28x28.
    padded = torch.nn.functional.pad(real.float() / 127.5 - 1, (2, 2, 2, 2), value=-1.0)
    assert domain_metrics(padded, "mnist", data_root, domain_cache, spec=SPEC)["n"] == 400
