"""Datasets through torchvision: the real MNIST files, tiny CIFAR-10 / CelebA in their formats."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from prism_secure.config import DataConfig
from prism_secure.data.datasets import load_dataset, load_images
from prism_secure.data.roots import ENV_DATA, resolve_data_root
from prism_secure.errors import DataNotFoundError


def test_mnist_loads_from_torchvision_layout(data_root: Path) -> None:
    data = load_images(DataConfig(dataset="mnist", root=data_root, download=False), train=False)
    assert data.images.shape == (10_000, 1, 28, 28)
    assert data.images.min() == -1.0 and data.images.max() == 1.0
    assert torch.equal(torch.bincount(data.labels), torch.bincount(data.labels, minlength=10))
    ds = load_dataset(DataConfig(dataset="mnist", root=data_root, download=False), train=False)
    img, label = ds[3]
    assert img.shape == (1, 28, 28) and label == int(data.labels[3])


def test_missing_data_names_folder_and_files(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError) as err:
        load_images(DataConfig(dataset="fashion_mnist", root=tmp_path, download=False))
    msg = str(err.value)
    assert str(tmp_path / "FashionMNIST" / "raw") in msg
    assert "train-images-idx3-ubyte" in msg and "--data-dir" in msg


def test_root_resolution_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_DATA, str(tmp_path / "env"))
    assert resolve_data_root(tmp_path / "flag") == tmp_path / "flag"
    assert resolve_data_root(None) == tmp_path / "env"
    monkeypatch.delenv(ENV_DATA)
    assert resolve_data_root(None).name == "data"


def _write_cifar(root: Path, n: int) -> np.ndarray:
    """CIFAR-10's python format: pickled dicts of uint8 rows, as the official archive has."""
    base = root / "cifar-10-batches-py"
    base.mkdir(parents=True)
    rng = np.random.default_rng(0)
    first = None
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n).tolist()
        first = data if first is None else first
        with open(base / name, "wb") as fh:
            pickle.dump({"data": data, "labels": labels}, fh)
    with open(base / "batches.meta", "wb") as fh:
        pickle.dump({"label_names": [f"c{i}" for i in range(10)]}, fh)
    return first


def test_cifar10_reads_its_on_disk_format(tmp_path: Path) -> None:
    first = _write_cifar(tmp_path, 4)
    data = load_images(DataConfig(dataset="cifar10", root=tmp_path, download=False))
    assert data.images.shape == (20, 3, 32, 32)
    expected = torch.from_numpy(first[0].reshape(3, 32, 32)).float() / 127.5 - 1
    assert torch.allclose(data.images[0], expected)


def _write_celeba(root: Path, n: int) -> list[int]:
    base = root / "celeba"
    (base / "img_align_celeba").mkdir(parents=True)
    names = [f"{i + 1:06d}.jpg" for i in range(n)]
    male = [1 if i % 3 == 0 else -1 for i in range(n)]
    rng = np.random.default_rng(0)
    for name in names:
        arr = rng.integers(0, 256, size=(218, 178, 3), dtype=np.uint8)
        Image.fromarray(arr).save(base / "img_align_celeba" / name)
    attrs = ["5_o_Clock_Shadow", "Male", "Smiling"]
    lines = [str(n), " ".join(attrs)]
    lines += [f"{nm} 1 {m} -1" for nm, m in zip(names, male, strict=True)]
    (base / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    (base / "list_eval_partition.txt").write_text("".join(f"{nm} 0\n" for nm in names))
    (base / "identity_CelebA.txt").write_text("".join(f"{nm} 1\n" for nm in names))
    (base / "list_bbox_celeba.txt").write_text(
        f"{n}\nimage_id x_1 y_1 width height\n" + "".join(f"{nm} 0 0 10 10\n" for nm in names)
    )
    marks = (
        "lefteye_x lefteye_y righteye_x righteye_y nose_x nose_y leftmouth_x leftmouth_y "
        "rightmouth_x rightmouth_y"
    )
    (base / "list_landmarks_align_celeba.txt").write_text(
        f"{n}\n{marks}\n" + "".join(f"{nm} {' '.join(['1'] * 10)}\n" for nm in names)
    )
    return male


def test_celeba_reads_its_on_disk_format_and_attribute(tmp_path: Path) -> None:
    male = _write_celeba(tmp_path, 6)
    data = load_images(
        DataConfig(dataset="celeba", root=tmp_path, download=False), attribute="Male"
    )
    assert data.images.shape == (6, 3, 32, 32)
    assert data.labels.tolist() == [(m + 1) // 2 for m in male]
    with pytest.raises(DataNotFoundError, match="no attribute"):
        load_images(DataConfig(dataset="celeba", root=tmp_path, download=False), attribute="Wings")
