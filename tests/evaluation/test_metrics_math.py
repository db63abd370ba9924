"""The metrics' arithmetic on synthetic data with known answers (no network, no dataset)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from prism_secure.evaluation import EvaluationError, compute_prdc, frechet_distance
from prism_secure.evaluation.domain import label_histogram_metrics
from prism_secure.evaluation.fid import FeatureMoments, GaussianStats, fid_from_features
from prism_secure.evaluation.images import inception_input, resize_tf1_bilinear, to_uint8


def _spd(rng: np.random.Generator, d: int) -> np.ndarray:
    a = rng.normal(size=(d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


def test_frechet_diagonal_closed_form() -> None:
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    v1, v2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 1.0])
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(v1) - np.sqrt(v2)) ** 2).sum()
    assert frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2)) == pytest.approx(expected)


def test_frechet_general_matches_sqrtm_formula() -> None:
    rng = np.random.default_rng(0)
    s1, s2 = _spd(rng, 12), _spd(rng, 12)
    mu1, mu2 = rng.normal(size=12), rng.normal(size=12)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    expected = ((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-8)


def test_frechet_identity_symmetry_and_singular_covariance() -> None:
    rng = np.random.default_rng(1)
    s, mu = _spd(rng, 8), rng.normal(size=8)
    assert frechet_distance(mu, s, mu, s) == pytest.approx(0.0, abs=1e-9)
    s2 = _spd(rng, 8)
    assert frechet_distance(mu, s, mu, s2) == pytest.approx(frechet_distance(mu, s2, mu, s))
    # Fewer samples than dimensions (as at small n): rank-deficient but finite and >= 0.
    few = rng.normal(size=(5, 8))
    value = fid_from_features(few, rng.normal(size=(5, 8)))
    assert math.isfinite(value) and value >= 0
    with pytest.raises(EvaluationError):
        frechet_distance(mu, s, mu[:4], s[:4, :4])


def test_fid_of_samples_converges_to_gaussian_distance() -> None:
    rng = np.random.default_rng(2)
    a = rng.normal(0.0, 1.0, size=(20000, 4))
    b = rng.normal(0.5, 2.0, size=(20000, 4))
    expected = 4 * 0.5**2 + 4 * (1.0 - 2.0) ** 2
    assert fid_from_features(a, b) == pytest.approx(expected, rel=0.05)


def test_sample_space_fid_equals_covariance_fid() -> None:
    rng = np.random.default_rng(6)
    a, b = rng.normal(size=(30, 80)), rng.normal(size=(20, 80)) * 1.5 + 0.2
    via_stats = frechet_distance(
        a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False)
    )
    assert fid_from_features(a, b) == pytest.approx(via_stats, rel=1e-7)


def test_moments_accumulate_in_batches_like_np_cov() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(101, 6)) * 3 + 5
    acc = FeatureMoments()
    for lo in range(0, 101, 17):
        acc.update(torch.from_numpy(x[lo : lo + 17]))
    stats = acc.compute()
    np.testing.assert_allclose(stats.mu, x.mean(0))
    np.testing.assert_allclose(stats.sigma, np.cov(x, rowvar=False), rtol=1e-9)
    assert stats.n == 101 and GaussianStats.from_features(x).n == 101


def test_prdc_of_a_set_against_itself() -> None:
    x = np.random.default_rng(4).normal(size=(200, 16))
    r = compute_prdc(x, x, k=5)
    assert (r.precision, r.recall, r.coverage) == (1.0, 1.0, 1.0)
    # Each ball holds itself and k-1 others strictly inside: density is exactly 1.
    assert r.density == pytest.approx(1.0)


def test_prdc_far_apart_and_bounds() -> None:
    rng = np.random.default_rng(5)
    real = rng.normal(size=(150, 8))
    far = compute_prdc(real, rng.normal(size=(120, 8)) + 100.0, k=5)
    assert (far.precision, far.recall, far.density, far.coverage) == (0.0, 0.0, 0.0, 0.0)
    near = compute_prdc(real, rng.normal(size=(120, 8)), k=5)
    for v in (near.precision, near.recall, near.coverage):
        assert 0.0 <= v <= 1.0
    assert near.precision > 0.5 and near.coverage > 0.5 and near.density > 0.3
    # A collapsed generator (all fakes in a small region): coverage and recall drop.
    collapsed = compute_prdc(real, rng.normal(size=(120, 8)) * 0.05, k=5)
    assert collapsed.coverage < 0.35 and collapsed.recall < 0.1 < near.recall
    with pytest.raises(EvaluationError):
        compute_prdc(real[:5], real[:5], k=5)


def test_prdc_small_hand_example() -> None:
    # 1-D reals 0,1,2,3 with k=1: radii 1,1,1,1. Fakes 0.5 (in 2 balls) and 10 (in none).
    real = np.array([[0.0], [1.0], [2.0], [3.0]])
    fake = np.array([[0.5], [10.0], [10.2]])
    r = compute_prdc(real, fake, k=1)
    assert r.precision == pytest.approx(1 / 3)
    assert r.density == pytest.approx(2 / 3)  # (2 + 0 + 0) / (k * 3)
    assert r.coverage == pytest.approx(2 / 4)  # reals 0 and 1 have the fake 0.5 inside
    # fake radii: 0.5 -> 9.5 (so every real is within it), 10 -> 0.2, 10.2 -> 0.2
    assert r.recall == pytest.approx(1.0)


def test_tf1_bilinear_resize() -> None:
    x = torch.tensor([[[[0.0, 2.0], [4.0, 6.0]]]])
    y = resize_tf1_bilinear(x, 4)
    # TF1 (align_corners=False, no half-pixel centres): source = i * in / out, edge clamped.
    row = torch.tensor([0.0, 1.0, 2.0, 2.0])
    expected = row[None, :] + 2 * row[:, None]
    torch.testing.assert_close(y[0, 0], expected)
    const = torch.full((2, 1, 28, 28), 0.25)
    torch.testing.assert_close(resize_tf1_bilinear(const, 299), torch.full((2, 1, 299, 299), 0.25))


def test_quantisation_and_inception_input() -> None:
    x = torch.tensor([-1.0, -0.5, 0.0, 1.0, 3.0]).reshape(1, 1, 1, 5)
    assert to_uint8(x).flatten().tolist() == [0, 64, 128, 255, 255]
    u = torch.randint(0, 256, (3, 1, 28, 28), dtype=torch.uint8)
    torch.testing.assert_close(to_uint8(u.float() / 127.5 - 1), u)
    inp = inception_input(u)
    assert inp.shape == (3, 3, 299, 299) and inp.min() >= -1 and inp.max() <= 1
    torch.testing.assert_close(inp[:, 0], inp[:, 2])
    with pytest.raises(EvaluationError):
        to_uint8(torch.full((1, 1, 4, 4), float("nan")))
    with pytest.raises(EvaluationError):
        to_uint8(torch.zeros(2, 2, 4, 4))


def test_label_histogram_metrics() -> None:
    uniform = label_histogram_metrics(np.arange(100) % 10, 10)
    assert uniform["classes_covered"] == 10
    assert uniform["label_kl_uniform"] == pytest.approx(0.0, abs=1e-12)
    collapsed = label_histogram_metrics(np.full(100, 3), 10)
    assert collapsed["classes_covered"] == 1
    assert collapsed["label_entropy"] == 0.0
    assert collapsed["label_kl_uniform"] == pytest.approx(math.log(10))


def test_frechet_distance_agrees_with_torchmetrics() -> None:
    from torchmetrics.image.fid import _compute_fid

    rng = np.random.default_rng(7)
    for d in (4, 32, 128):
        a, b = rng.normal(size=(400, d)), rng.normal(0.3, 1.2, size=(500, d)) @ _spd(rng, d)
        ours = fid_from_features(a, b)
        sa, sb = (GaussianStats.from_features(x) for x in (a, b))
        theirs = _compute_fid(*(torch.from_numpy(v) for v in (sa.mu, sa.sigma, sb.mu, sb.sigma)))
        assert ours == pytest.approx(float(theirs), rel=1e-6, abs=1e-8)


def test_prdc_agrees_with_the_prdc_package() -> None:
    import prdc

    rng = np.random.default_rng(8)
    for n_real, n_fake, d, shift in ((300, 250, 16, 0.0), (200, 400, 64, 0.5), (150, 150, 8, 2.0)):
        real = rng.normal(size=(n_real, d)).astype(np.float32)
        fake = rng.normal(shift, 1.0, size=(n_fake, d)).astype(np.float32)
        ours = compute_prdc(real, fake, k=5)
        theirs = prdc.compute_prdc(real_features=real, fake_features=fake, nearest_k=5)
        for key in ("precision", "recall", "density", "coverage"):
            assert getattr(ours, key) == pytest.approx(float(theirs[key]), abs=1e-9), key
