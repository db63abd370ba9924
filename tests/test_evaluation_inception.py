"""Inception FID / PRDC end to end on real MNIST at tiny n (Inception costs ~0.2 s per image)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import torchvision.transforms.functional as TF

from prism_secure.evaluation import (
    EvalReport,
    InceptionLoadError,
    InceptionNotFoundError,
    evaluate_samples,
    load_inception,
)
from prism_secure.evaluation import inception as inception_mod
from prism_secure.evaluation.real_data import load_real

REPO = Path(__file__).resolve().parents[1]
N = 24
SHARED_INCEPTION = "pt_inception-2015-12-05-torchscript.pt"


@pytest.fixture(scope="session")
def inception_path() -> Path:
    env = os.environ.get("PRISM_SECURE_INCEPTION")
    path = Path(env) if env else REPO.parent / "shared/models" / SHARED_INCEPTION
    if not path.is_file():
        pytest.skip(f"FID network not found at {path}; set PRISM_SECURE_INCEPTION")
    return path


def _real_sampler(data_root: Path, transform: Callable = lambda x: x):
    train, _ = load_real("mnist", data_root, train=True)

    def sample(n: int, seed: int) -> torch.Tensor:
        idx = torch.randperm(train.shape[0], generator=torch.Generator().manual_seed(seed))[:n]
        return transform(train[idx].float() / 127.5 - 1)

    return sample


def test_missing_inception_file_names_the_path(tmp_path: Path, monkeypatch) -> None:
    with pytest.raises(InceptionNotFoundError, match="nope.pt"):
        load_inception(tmp_path / "nope.pt")
    monkeypatch.setenv("PRISM_SECURE_INCEPTION", str(tmp_path / "env.pt"))
    with pytest.raises(InceptionNotFoundError, match="PRISM_SECURE_INCEPTION"):
        load_inception(None)


def test_no_network_anywhere_lists_the_options(monkeypatch) -> None:
    monkeypatch.delenv("PRISM_SECURE_INCEPTION", raising=False)
    monkeypatch.setattr(inception_mod.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(InceptionNotFoundError, match="torch-fidelity") as info:
        load_inception(None)
    assert "--inception" in str(info.value) and "pytorch-fid" in str(info.value)


def test_a_file_that_is_not_torchscript_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a model")
    with pytest.raises(InceptionLoadError, match="TorchScript"):
        load_inception(bad)


@pytest.fixture(scope="session")
def real_runs(inception_path: Path, data_root: Path, tmp_path_factory: pytest.TempPathFactory):
    """Two identical evaluations of real training images; the second must hit the cache."""
    cache = tmp_path_factory.mktemp("fid-cache")
    kw = dict(
        dataset="mnist",
        data_root=data_root,
        n=N,
        metrics=("fid", "prdc"),
        inception=inception_path,
        cache_dir=cache,
        seed=3,
    )
    first = evaluate_samples(_real_sampler(data_root), **kw)
    second = evaluate_samples(_real_sampler(data_root), **kw)
    return first, second, kw


def test_real_images_score_near_the_floor(real_runs) -> None:
    first, _, _ = real_runs
    assert first.inception is not None and first.inception.standard
    assert first.inception.images_per_second > 0
    assert first.reference_n == N and first.fid is not None and first.fid_floor is not None
    assert first.fid < 1.5 * first.fid_floor
    for p in (first.prdc, first.prdc_floor):
        assert p is not None and p.k == 5
        assert all(0.0 <= v <= 1.0 for v in (p.precision, p.recall, p.coverage))
        assert p.density >= 0.0
    EvalReport.model_validate_json(first.model_dump_json())  # JSON round trip


def test_second_run_hits_the_cache_and_is_deterministic(real_runs) -> None:
    first, second, _ = real_runs
    assert (first.cache.misses, first.cache.hits) == (2, 0)
    assert (second.cache.misses, second.cache.hits) == (0, 2)
    assert second.fid == first.fid and second.prdc == first.prdc


def test_noise_and_blur_score_far_worse(real_runs, data_root: Path) -> None:
    first, _, kw = real_runs
    kw = kw | {"metrics": ("fid",), "floor": False}
    noise = evaluate_samples(lambda n, s: torch.rand(n, 1, 28, 28) * 2 - 1, **kw)
    blur = evaluate_samples(
        _real_sampler(data_root, lambda x: TF.gaussian_blur(x, [9, 9], [3.0, 3.0])), **kw
    )
    assert noise.cache.hits == 1 and noise.cache.misses == 0
    assert noise.fid > 3 * first.fid_floor
    assert blur.fid > 1.5 * first.fid_floor
