"""Inception FID / PRDC end to end on real MNIST at tiny n (Inception costs ~0.2 s per image)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF

from prism_secure.evaluation import (
    EvalReport,
    InceptionLoadError,
    InceptionNotFoundError,
    evaluate_samples,
    load_inception,
    onnx_runtime,
)
from prism_secure.evaluation import inception as inception_mod
from prism_secure.evaluation.real_data import load_real

N = 24


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


def _mnist_batch(data_root: Path, n: int = 6) -> torch.Tensor:
    train, _ = load_real("mnist", data_root, train=True)
    return train[:n]


def test_onnx_runtime_backend_matches_torch_and_reuses_its_export(
    inception_path: Path, data_root: Path, tmp_path: Path
) -> None:
    images = _mnist_batch(data_root)
    on_torch = load_inception(inception_path, backend="torch", cache_dir=tmp_path, threads=2)
    on_ort = load_inception(inception_path, backend="onnxruntime", cache_dir=tmp_path, threads=2)
    assert (on_torch.backend, on_ort.backend) == ("torch", "onnxruntime")
    assert on_ort.network_id == on_torch.network_id  # same weights: cached references stay valid
    a, b = on_torch.features(images), on_ort.features(images)
    assert np.abs(a - b).max() < 1e-3 and np.abs(a).max() > 0.1
    export = onnx_runtime.export_path(tmp_path, on_ort.network_id)
    assert export.is_file() and [p.name for p in export.parent.iterdir()] == [export.name]
    stamp = export.stat().st_mtime_ns
    again = load_inception(inception_path, backend="onnxruntime", cache_dir=tmp_path)
    assert export.stat().st_mtime_ns == stamp  # loaded, not exported again
    assert np.array_equal(again.features(images), b)


def test_a_corrupt_cached_export_is_rebuilt(
    inception_path: Path, data_root: Path, tmp_path: Path
) -> None:
    export = onnx_runtime.export_path(tmp_path, inception_mod.file_sha256(inception_path))
    export.parent.mkdir(parents=True)
    export.write_bytes(b"truncated")
    ext = load_inception(inception_path, backend="onnxruntime", cache_dir=tmp_path)
    reference = load_inception(inception_path, backend="torch", cache_dir=tmp_path)
    images = _mnist_batch(data_root, 2)
    assert np.abs(ext.features(images) - reference.features(images)).max() < 1e-3
    assert export.stat().st_size > 50_000_000


def test_an_export_that_disagrees_with_torchscript_is_never_used(
    inception_path: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(onnx_runtime, "PROBE_TOLERANCE", -1.0)  # no export can pass
    with pytest.raises(InceptionLoadError, match="differs from the TorchScript"):
        load_inception(inception_path, backend="onnxruntime", cache_dir=tmp_path)
    with pytest.warns(UserWarning, match="running it on torch instead"):
        fallback = load_inception(inception_path, backend="auto", cache_dir=tmp_path)
    assert fallback.backend == "torch"
    assert not list((tmp_path / "onnx").iterdir())  # nothing half-written left in the cache


def test_backend_choices_are_checked(inception_path: Path, monkeypatch) -> None:
    with pytest.raises(InceptionLoadError, match="backend: unknown 'tensorrt'"):
        load_inception(inception_path, backend="tensorrt")  # type: ignore[arg-type]
    with pytest.raises(InceptionLoadError, match="CPU only"):
        load_inception(inception_path, device="cuda", backend="onnxruntime")
    monkeypatch.delenv("PRISM_SECURE_INCEPTION", raising=False)
    with pytest.raises(InceptionLoadError, match="--inception PATH"):
        load_inception(None, backend="onnxruntime")
