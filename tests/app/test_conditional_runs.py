"""Class-conditional PRISM: the generator's label input, per-class targets, and their release."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from scipy.stats import chi2
from typer.testing import CliRunner

from prism_secure.app import train_run
from prism_secure.artifacts.model_file import decode_model, load_generator
from prism_secure.cli.app import app
from prism_secure.config import ModelConfig, PrivacyConfig, build_config, stored_run_config
from prism_secure.features.moments import (
    ClassMoments,
    FeatureMoments,
    batch_labels,
    class_moment_loss,
    moment_matching_loss,
)
from prism_secure.models.generators import balanced_labels, build_generator
from prism_secure.privacy import (
    gaussian_release_blocks,
    joint_sensitivity,
    joint_vector,
    moment_sums,
    release_class_statistics,
    release_statistics,
)

#: The public bound on records per client that every release here is made under.
BOUND = 10_000


def _pair(num_classes: int):
    cfg = ModelConfig(width=4, latent_dim=8)
    return build_generator(cfg, 3, 1, num_classes), build_generator(cfg, 3, 1, 0)


def test_label_input_adds_exactly_its_first_layer_weights_and_steers_the_output() -> None:
    cond, plain = _pair(10)
    fc_out = plain.fc.weight.shape[0]
    assert cond.num_maskable - plain.num_maskable == 10 * fc_out
    again, _ = _pair(10)
    assert all(
        torch.equal(a.weight, b.weight)
        for a, b in zip(cond.masked_layers(), again.masked_layers(), strict=True)
    )
    cond.set_fixed_mask(np.ones(cond.num_maskable, dtype=np.uint8))
    z = torch.randn(20, 8, generator=torch.Generator().manual_seed(0))
    a = cond(z, torch.zeros(20, dtype=torch.long))
    b = cond(z, torch.full((20,), 7, dtype=torch.long))
    assert (a - b).abs().max() > 1e-3
    assert torch.equal(cond(z), cond(z, balanced_labels(20, 10)))
    with pytest.raises(ValueError, match="labels given to an unconditional"):
        plain(z, torch.zeros(20, dtype=torch.long))
    with pytest.raises(ValueError, match="one label per row"):
        cond(z, torch.zeros(3, dtype=torch.long))


def test_sampling_is_class_balanced_unless_labels_are_given() -> None:
    cond, _ = _pair(10)
    cond.set_fixed_mask(np.ones(cond.num_maskable, dtype=np.uint8))
    one = cond.sample(30, seed=1, batch_size=7)
    assert torch.equal(one, cond.sample(30, seed=1, batch_size=7))
    only3 = cond.sample(30, seed=1, batch_size=7, labels=torch.full((30,), 3))
    assert not torch.equal(one, only3)
    assert one.shape == only3.shape == (30, 1, 28, 28)


@settings(max_examples=80)
@given(
    weights=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=12).filter(
        lambda w: any(x > 1e-3 for x in w)
    ),
    batch=st.integers(1, 200),
)
def test_batch_labels_follow_the_weights(weights: list[float], batch: int) -> None:
    w = torch.tensor([x if x > 1e-3 else 0.0 for x in weights], dtype=torch.float64)
    labels = batch_labels(w, batch)
    assert labels.numel() == batch
    counts = torch.bincount(labels, minlength=w.numel())
    assert bool((counts[w == 0] == 0).all())
    present = int((w > 0).sum())
    if batch >= 2 * present:
        floor = 2
        assert bool((counts[w > 0] >= 2).all())
        expected = floor + w / w.sum() * (batch - floor * present)
        assert bool(((counts.double() - expected).abs()[w > 0] < 1.0 + 1e-9).all())
    assert torch.equal(labels, batch_labels(w, batch))  # deterministic


def test_class_loss_is_the_weighted_sum_of_per_class_losses() -> None:
    g = torch.Generator().manual_seed(0)
    mean, var = torch.randn(3, 5, generator=g), torch.rand(3, 5, generator=g)
    target = ClassMoments(mean, var, torch.tensor([0.5, 0.0, 0.5]))
    labels = batch_labels(target.weights, 10)
    assert set(labels.tolist()) == {0, 2}
    fake = torch.randn(10, 5, generator=g)
    by_hand = sum(
        0.5 * moment_matching_loss(fake[labels == c], FeatureMoments(mean[c], var[c]))
        for c in (0, 2)
    )
    assert float(class_moment_loss(fake, labels, target)) == pytest.approx(float(by_hand))
    # Generated moments equal to the target's give zero loss.
    exact = ClassMoments(
        torch.stack([fake[labels == c].mean(0) if c != 1 else mean[1] for c in range(3)]),
        torch.stack(
            [fake[labels == c].var(0, unbiased=False) if c != 1 else var[1] for c in range(3)]
        ),
        target.weights,
    )
    assert float(class_moment_loss(fake, labels, exact)) == pytest.approx(0.0, abs=1e-10)
    with pytest.raises(ValueError, match="at least one class"):
        ClassMoments(mean, var, torch.zeros(3))


def test_release_without_dp_gives_each_class_its_exact_moments() -> None:
    g = torch.Generator().manual_seed(1)
    feats = torch.randn(90, 6, generator=g, dtype=torch.float64)
    labels = torch.tensor([0, 1, 3] * 30)
    out = release_class_statistics(
        feats, labels, 4, cfg=PrivacyConfig(max_records=BOUND, enabled=False)
    )
    for c in (0, 1, 3):
        rows = feats[labels == c]
        assert torch.allclose(out.mean[c], rows.mean(0))
        assert torch.allclose(out.var[c], rows.var(0, unbiased=False))
    assert out.released_counts.tolist() == [30.0, 30.0, 0.0, 30.0]
    assert out.class_weights().tolist() == pytest.approx([1 / 3, 1 / 3, 0.0, 1 / 3])
    assert out.record.label_blocks == 4 and out.record.num_releases == 0
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 4\)"):
        release_class_statistics(
            feats, labels + 1, 4, cfg=PrivacyConfig(max_records=BOUND, enabled=False)
        )


def test_one_record_moves_only_its_own_block_and_by_at_most_delta() -> None:
    rng = np.random.default_rng(2)
    clip = 1.5
    base = torch.tensor(rng.normal(size=(40, 8)))
    labels = torch.tensor(rng.integers(0, 3, size=40))
    outlier = torch.full((1, 8), 1e6, dtype=torch.float64)

    def blocks(x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
        return [joint_vector(moment_sums(x[y == c], clip)) for c in range(3)]

    without = blocks(base, labels)
    with_it = blocks(torch.cat([base, outlier]), torch.cat([labels, torch.tensor([2])]))
    assert torch.equal(with_it[0], without[0]) and torch.equal(with_it[1], without[1])
    moved = float(torch.linalg.vector_norm(with_it[2] - without[2]))
    assert moved <= joint_sensitivity(clip) * (1 + 1e-9)
    # With no noise the released blocks unpack to the clipped sums and counts exactly.
    gen = torch.Generator().manual_seed(0)
    sums = [moment_sums(base[labels == c], clip) for c in range(3)]
    released = gaussian_release_blocks(sums, 0.0, gen)
    for s, r in zip(sums, released, strict=True):
        assert torch.allclose(r.feature_sum, s.feature_sum)
        assert r.count == pytest.approx(s.count)


@pytest.mark.filterwarnings("ignore:Optimal order is the largest alpha")
def test_noise_reaches_every_block_at_the_unconditional_sigma() -> None:
    g = torch.Generator().manual_seed(3)
    feats = torch.randn(120, 10, generator=g) * 0.2
    labels = torch.arange(120) % 3
    one = release_statistics(feats, cfg=PrivacyConfig(max_records=BOUND, epsilon=2.0, noise_seed=0))
    exact = [moment_sums(feats[labels == c], 1.0) for c in range(3)]
    zs = []
    for seed in range(200):
        cfg = PrivacyConfig(max_records=BOUND, epsilon=2.0, noise_seed=seed)
        out = release_class_statistics(feats, labels, 3, cfg=cfg)
        rec = out.record
        assert rec.noise_multiplier == one.record.noise_multiplier
        assert rec.epsilon == one.record.epsilon <= 2.0
        assert out.sigma_count == pytest.approx(rec.sigma_count)
        zs.append((out.released_counts.numpy() - [s.count for s in exact]) / rec.sigma_count)
    sample = np.concatenate(zs)
    stat = float(np.sum(sample**2))
    assert chi2.ppf(1e-6, sample.size) < stat < chi2.isf(1e-6, sample.size)
    assert abs(sample.mean()) < 5.0 / math.sqrt(sample.size)


@pytest.mark.filterwarnings("ignore:Optimal order is the largest alpha")
def test_classes_a_client_lacks_get_no_weight_under_noise() -> None:
    g = torch.Generator().manual_seed(4)
    feats = torch.randn(600, 12, generator=g)
    labels = torch.tensor([2, 5] * 300)
    for seed in range(20):
        out = release_class_statistics(
            feats, labels, 10, cfg=PrivacyConfig(max_records=BOUND, epsilon=1.0, noise_seed=seed)
        )
        w = out.class_weights()
        assert float(w.sum()) == pytest.approx(1.0)
        assert set(torch.nonzero(w).flatten().tolist()) == {2, 5}


def test_conditional_run_exports_a_labelled_model(
    tiny_overrides: dict[str, object], tmp_path: Path
) -> None:
    cfg = build_config(None, {**tiny_overrides, "model.conditional": True})
    run = train_run(cfg)
    header, _ = decode_model((run / "model.prism").read_bytes())
    assert header.num_classes == 10
    ledger = json.loads((run / "privacy.json").read_text())
    assert {c["label_blocks"] for c in ledger["clients"].values()} == {10}
    gen = load_generator(run / "model.prism")
    assert gen.num_classes == 10
    runner = CliRunner()
    grid = tmp_path / "threes.png"
    ok = runner.invoke(app, ["sample", str(run), "--n", "8", "--label", "3", "--out", str(grid)])
    assert ok.exit_code == 0, ok.output
    assert grid.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = runner.invoke(app, ["sample", str(run), "--label", "10", "--out", str(grid)])
    assert bad.exit_code == 2 and "labels 0..9" in bad.output


def test_run_configs_from_before_conditional_models_stay_unconditional() -> None:
    stored = json.loads(build_config(None, {}).model_dump_json())
    assert stored["model"]["conditional"] is True
    del stored["model"]["conditional"]
    assert stored_run_config(json.dumps(stored)).model.conditional is False
    stored["model"]["conditional"] = True
    assert stored_run_config(json.dumps(stored)).model.conditional is True
    with pytest.raises(ValidationError):
        stored_run_config("{not json")


def test_unconditional_flag_trains_the_papers_model(
    tiny_overrides: dict[str, object], tmp_path: Path
) -> None:
    sets = [
        arg
        for key, value in tiny_overrides.items()
        if key not in ("data.root", "output.runs_dir", "output.name")
        for arg in ("--set", f"{key}={json.dumps(value)}")
    ]
    args = ["train", "--no-dp", "--quiet", "--data-dir", str(tiny_overrides["data.root"])]
    args += ["--runs-dir", str(tmp_path / "r"), "--name", "u", "--unconditional", *sets]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    run = tmp_path / "r" / "u"
    assert json.loads((run / "config.json").read_text())["model"]["conditional"] is False
    header, _ = decode_model((run / "model.prism").read_bytes())
    assert header.num_classes == 0
    assert load_generator(run).num_classes == 0
