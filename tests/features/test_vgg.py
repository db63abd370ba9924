"""The paper's VGG19-BN path: all 16 ReLU outputs, a weights file, and a whole run through it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torchvision.models import vgg19_bn

from prism_secure.app import train_run
from prism_secure.config import FeatureConfig, build_config
from prism_secure.features.errors import FeatureWeightsError, WeightsMismatchError
from prism_secure.features.factory import build_feature_map
from prism_secure.privacy.clipping import clip_rows


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Randomly initialised torchvision vgg19_bn weights, saved as a plain state dict."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("vgg") / "vgg19_bn_random.pth"
    torch.save(vgg19_bn(weights=None).state_dict(), path)
    return path


def test_the_default_taps_are_the_papers_16_relu_maps_in_full(vgg_file: Path) -> None:
    fmap = build_feature_map(FeatureConfig(kind="vgg19bn", vgg_weights=vgg_file), (1, 28, 28))
    # 32 x 32 input: 2 x 64 x 32^2 + 2 x 128 x 16^2 + 4 x 256 x 8^2 + 4 x 512 x 4^2 + 4 x 512 x 2^2
    assert fmap.dim == 2 * 65536 + 2 * 32768 + 4 * 16384 + 4 * 8192 + 4 * 2048 == 303_104
    feats = fmap(torch.rand(3, 1, 28, 28) * 2 - 1)
    assert feats.shape == (3, 303_104)
    assert bool((feats.norm(dim=1) < 1).all())
    assert torch.equal(clip_rows(feats, 1.0), feats.double())


def test_chosen_layers_and_pooling_shrink_the_map(vgg_file: Path) -> None:
    cfg = FeatureConfig(
        kind="vgg19bn", vgg_weights=vgg_file, vgg_layers=[1, 3, 7], vgg_pool=2, vgg_resolution=16
    )
    fmap = build_feature_map(cfg, (1, 28, 28))
    assert fmap.dim == 4 * (64 + 128 + 256)


def test_missing_or_foreign_weights_are_typed_errors(tmp_path: Path) -> None:
    with pytest.raises(FeatureWeightsError, match="features.vgg_weights"):
        build_feature_map(
            FeatureConfig(kind="vgg19bn", vgg_weights=tmp_path / "absent.pth"), (1, 28, 28)
        )
    foreign = tmp_path / "foreign.pth"
    torch.save({"features.0.weight": torch.zeros(3)}, foreign)
    with pytest.raises(WeightsMismatchError):
        build_feature_map(FeatureConfig(kind="vgg19bn", vgg_weights=foreign), (1, 28, 28))


def test_a_whole_run_on_vgg_features_with_the_estimator(
    tiny_overrides: dict[str, object], vgg_file: Path
) -> None:
    cfg = build_config(
        None,
        {
            **tiny_overrides,
            "federation.rounds": 2,
            "training.local_iters": 2,
            "features.kind": "vgg19bn",
            "features.vgg_weights": str(vgg_file),
            "features.vgg_resolution": 16,
            "training.moment_estimator": "adam",
            "training.estimator_lr": 1e-5,
        },
    )
    run = train_run(cfg)
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["round"] for r in rows] == [1, 2] and all(r["loss"] > 0 for r in rows)
    assert json.loads((run / "privacy.json").read_text())["epsilon"] <= 8.0
    assert (run / "model.prism").stat().st_size > 0
    stored = json.loads((run / "config.json").read_text())
    assert stored["features"]["vgg_weights"] == str(vgg_file)
