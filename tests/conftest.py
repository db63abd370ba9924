"""Shared fixtures: the offline dataset root, and small fast run configs."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, settings

# Shared 2-core machines are slow and noisy: no per-example deadlines.
settings.register_profile(
    "prism", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "prism"))

REPO = Path(__file__).resolve().parents[1]
INCEPTION_FILE = "pt_inception-2015-12-05-torchscript.pt"

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def data_root() -> Path:
    """MNIST in torchvision's layout: $PRISM_SECURE_DATA, else ../shared/data beside the repo."""
    env = os.environ.get("PRISM_SECURE_DATA")
    root = Path(env) if env else REPO.parent / "shared" / "data"
    if not (root / "MNIST" / "raw" / "train-images-idx3-ubyte").exists():
        pytest.skip(f"MNIST not found under {root}; set PRISM_SECURE_DATA")
    return root


@pytest.fixture(scope="session")
def inception_path() -> Path:
    """The TF-FID Inception TorchScript: $PRISM_SECURE_INCEPTION, else ../shared/models."""
    env = os.environ.get("PRISM_SECURE_INCEPTION")
    path = Path(env) if env else REPO.parent / "shared/models" / INCEPTION_FILE
    if not path.is_file():
        pytest.skip(f"FID network not found at {path}; set PRISM_SECURE_INCEPTION")
    return path


@pytest.fixture
def tiny_overrides(data_root: Path, tmp_path: Path) -> dict[str, object]:
    """A run that finishes in seconds: few clients, few records, few steps."""
    return {
        "data.root": str(data_root),
        "data.download": False,
        "data.max_records_per_client": 120,
        "data.holdout": 100,
        "partition.num_clients": 3,
        "federation.rounds": 3,
        "training.local_iters": 3,
        "training.batch_size": 16,
        "model.width": 4,
        "model.latent_dim": 16,
        "features.rff_dim": 64,
        "features.kind": "rff",
        "output.runs_dir": str(tmp_path / "runs"),
        "output.name": "tiny",
        "output.sample_every": 2,
        "output.track_domain_fid": False,
    }


def _write_run_toml(path: Path, overrides: dict[str, object]) -> Path:
    sections: dict[str, dict[str, object]] = {}
    for key, value in overrides.items():
        section, name = key.split(".", 1)
        sections.setdefault(section, {})[name] = value
    lines = []
    for section, values in sections.items():
        lines.append(f"[{section}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def write_run_toml() -> Callable[[Path, dict[str, object]], Path]:
    """Writes dotted overrides as the TOML file a separate process reads (``--config``)."""
    return _write_run_toml
