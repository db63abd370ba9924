"""The Gaussian release of feature moments: noise, clipping, sensitivity, post-processing."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from opacus.accountants.utils import get_noise_multiplier
from scipy.stats import chi2

from prism_secure.config import PrivacyConfig
from prism_secure.errors import ConfigError
from prism_secure.privacy import (
    COUNT_WEIGHT,
    clip_rows,
    default_delta,
    gaussian_release,
    joint_sensitivity,
    joint_vector,
    moment_sums,
    release_statistics,
)

#: The public bound on records per client that every release here is made under.
BOUND = 10_000


def clipped_sums_numpy(x: np.ndarray, c: float) -> tuple[np.ndarray, np.ndarray]:
    """Independent reference: clip rows to norm c in numpy, sum features and squares."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    xc = x * np.minimum(1.0, c / np.maximum(norms, 1e-300))
    return xc.sum(axis=0), (xc**2).sum(axis=0)


@pytest.mark.filterwarnings("ignore:Optimal order is the largest alpha")
def test_noise_reaches_released_sums_with_calibrated_sigma() -> None:
    rng = np.random.default_rng(0)
    n, dim, clip, eps = 200, 30, 0.5, 8.0
    x = rng.normal(size=(n, dim)) * rng.choice([0.01, 0.3, 5.0], size=(n, 1))
    features = torch.tensor(x, dtype=torch.float32)
    s1, s2 = clipped_sums_numpy(features.double().numpy(), clip)
    # Sigma from first principles: Opacus's calibration and Delta = C sqrt(2 + kappa^2).
    z = get_noise_multiplier(target_epsilon=eps, target_delta=1e-5, sample_rate=1.0, steps=1)
    delta_l2 = clip * math.sqrt(2 + COUNT_WEIGHT**2)
    sig1, sig2, sign = z * delta_l2, z * delta_l2 * clip, z * delta_l2 / (COUNT_WEIGHT * clip)

    z1, z2, zn = [], [], []
    for seed in range(300):
        cfg = PrivacyConfig(max_records=BOUND, epsilon=eps, clip_norm=clip, noise_seed=seed)
        out = release_statistics(features, cfg=cfg)
        assert out.record.noise_multiplier == pytest.approx(z, rel=1e-9)
        assert out.record.sigma_feature_sum == pytest.approx(sig1, rel=1e-9)
        z1.append((out.feature_sum.numpy() - s1) / sig1)
        z2.append((out.square_sum.numpy() - s2) / sig2)
        zn.append((out.released_count - n) / sign)
        # The statistics training uses are built from exactly these noisy sums.
        n_hat = max(out.released_count, 1.0)
        assert torch.allclose(out.mean.double(), out.feature_sum / n_hat, rtol=1e-6)

    for sample in (np.concatenate(z1), np.concatenate(z2), np.asarray(zn)):
        k = sample.size
        stat = float(np.sum(sample**2))
        # Two-sided chi-square test at 1e-6 per tail: with k = 9000, a sigma 5% off is ~10 sd out.
        assert chi2.ppf(1e-6, k) < stat < chi2.isf(1e-6, k), (k, stat / k)
        assert abs(sample.mean()) < 5.0 / math.sqrt(k)


def test_outlier_moves_released_vector_by_at_most_the_sensitivity() -> None:
    rng = np.random.default_rng(1)
    clip = 2.0
    base = torch.tensor(rng.normal(size=(50, 16)), dtype=torch.float64)
    delta_l2 = joint_sensitivity(clip)
    without = moment_sums(base, clip)
    for outlier in (
        torch.zeros(16).index_fill_(0, torch.tensor([3]), 1e9),  # all mass on one coordinate
        torch.full((16,), -1e6),
        torch.tensor(rng.normal(size=16)) * 1e12,
        torch.full((16,), 0.01),  # inside the ball: untouched by clipping
    ):
        with_it = moment_sums(torch.cat([base, outlier[None, :].double()]), clip)
        moved = float(torch.linalg.vector_norm(joint_vector(with_it) - joint_vector(without)))
        assert moved <= delta_l2 * (1 + 1e-9)
        # With the noise multiplier at zero, the released sums show the same bounded change.
        gen = torch.Generator().manual_seed(0)
        a, b = gaussian_release(with_it, 0.0, gen), gaussian_release(without, 0.0, gen)
        assert float(torch.linalg.vector_norm(a.feature_sum - b.feature_sum)) <= clip * (1 + 1e-9)
        assert float(torch.linalg.vector_norm(a.square_sum - b.square_sum)) <= clip**2 * (1 + 1e-9)
        assert a.count - b.count == pytest.approx(1.0)
    # The bound is tight: a record on one axis at the clip norm moves the vector by exactly Delta.
    axis = torch.zeros(1, 16, dtype=torch.float64)
    axis[0, 0] = 1e9
    moved = joint_vector(moment_sums(torch.cat([base, axis]), clip)) - joint_vector(without)
    assert float(torch.linalg.vector_norm(moved)) == pytest.approx(delta_l2, rel=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    dim=st.integers(1, 40),
    log_scale=st.floats(-6, 12),
    clip=st.floats(1e-3, 1e3),
)
def test_any_outlier_is_bounded(seed: int, dim: int, log_scale: float, clip: float) -> None:
    gen = torch.Generator().manual_seed(seed)
    base = torch.randn(12, dim, generator=gen, dtype=torch.float64)
    outlier = torch.randn(1, dim, generator=gen, dtype=torch.float64) * 10.0**log_scale
    moved = joint_vector(moment_sums(torch.cat([base, outlier]), clip)) - joint_vector(
        moment_sums(base, clip)
    )
    assert float(torch.linalg.vector_norm(moved)) <= joint_sensitivity(clip) * (1 + 1e-9)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 80),
    dim=st.integers(1, 24),
    log_scale=st.floats(-4, 6),
    eps=st.floats(0.3, 20.0),
    clip=st.floats(1e-2, 1e2),
)
def test_released_statistics_are_usable(
    seed: int, n: int, dim: int, log_scale: float, eps: float, clip: float
) -> None:
    gen = torch.Generator().manual_seed(seed)
    features = torch.randn(n, dim, generator=gen) * 10.0**log_scale
    cfg = PrivacyConfig(max_records=BOUND, epsilon=eps, clip_norm=clip, noise_seed=seed)
    out = release_statistics(features, cfg=cfg)
    assert out.mean.shape == out.var.shape == (dim,)
    assert out.mean.dtype == out.var.dtype == torch.float32
    assert torch.isfinite(out.mean).all() and torch.isfinite(out.var).all()
    assert (out.var >= 0).all()
    assert out.record.max_records == BOUND and "num_records" not in out.record.model_dump()
    assert out.record.epsilon <= eps


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), log_scale=st.floats(-6, 8), clip=st.floats(1e-3, 1e3))
def test_clipping_bounds_rows_and_keeps_small_ones(
    seed: int, log_scale: float, clip: float
) -> None:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(20, 7, generator=gen, dtype=torch.float64) * 10.0**log_scale
    y = clip_rows(x, clip)
    norms = torch.linalg.vector_norm(x, dim=1)
    assert (torch.linalg.vector_norm(y, dim=1) <= clip * (1 + 1e-12)).all()
    inside = norms <= clip
    assert torch.equal(y[inside], x[inside])


def test_non_finite_rows_are_zeroed_not_propagated() -> None:
    x = torch.randn(20, 5)
    x[3, 1] = math.nan
    x[7, 0] = math.inf
    with pytest.warns(RuntimeWarning, match="2 of 20"):
        out = release_statistics(x, cfg=PrivacyConfig(max_records=BOUND, noise_seed=0))
    assert torch.isfinite(out.mean).all() and torch.isfinite(out.var).all()


def test_disabled_release_is_exact_and_unclipped() -> None:
    x = torch.randn(300, 12, dtype=torch.float64) * 50.0
    out = release_statistics(x, cfg=PrivacyConfig(max_records=BOUND, enabled=False, clip_norm=0.1))
    assert torch.allclose(out.mean, x.mean(dim=0), atol=1e-10)
    assert torch.allclose(out.var, x.var(dim=0, unbiased=False), atol=1e-8)
    assert out.record.epsilon == math.inf and not out.record.enabled
    assert out.record.num_releases == 0


def test_noise_source() -> None:
    x = torch.randn(64, 8)
    seeded = [
        release_statistics(x, cfg=PrivacyConfig(max_records=BOUND, noise_seed=7)) for _ in range(2)
    ]
    assert torch.equal(seeded[0].mean, seeded[1].mean) and seeded[0].record.noise_seeded
    other = release_statistics(x, cfg=PrivacyConfig(max_records=BOUND, noise_seed=8))
    assert not torch.equal(other.mean, seeded[0].mean)
    # Unseeded noise ignores torch's global seed: two releases after the same seed differ.
    torch.manual_seed(0)
    first = release_statistics(x, cfg=PrivacyConfig(max_records=BOUND))
    torch.manual_seed(0)
    second = release_statistics(x, cfg=PrivacyConfig(max_records=BOUND))
    assert not torch.equal(first.mean, second.mean)
    assert not first.record.noise_seeded
    # A caller's generator cannot be vouched for: it is recorded as seeded.
    given_gen = release_statistics(
        x, cfg=PrivacyConfig(max_records=BOUND), generator=torch.Generator()
    )
    assert given_gen.record.noise_seeded


def test_default_delta_rule() -> None:
    assert default_delta(6000) == 1e-5
    assert default_delta(10_000) == 1e-5
    assert default_delta(1_000_000) == pytest.approx(1e-7)
    for n in (1, 99, 12_345, 10**8):
        assert default_delta(n) <= 1.0 / (10 * n)
    out = release_statistics(torch.randn(50, 4), cfg=PrivacyConfig(max_records=BOUND, noise_seed=0))
    assert out.record.delta == 1e-5


def test_large_deltas_and_a_missing_bound_are_refused() -> None:
    with pytest.raises(ConfigError) as err:
        release_statistics(torch.randn(100, 4), cfg=PrivacyConfig(max_records=BOUND, delta=0.01))
    assert err.value.field == "privacy.delta"
    # Without a public bound there is nothing to set delta from but the private count.
    with pytest.raises(ConfigError) as err:
        release_statistics(torch.randn(100, 4), cfg=PrivacyConfig())
    assert err.value.field == "privacy.max_records"
    # The public bound decides the delta, never the private count.
    out = release_statistics(
        torch.randn(100, 4), cfg=PrivacyConfig(noise_seed=0), max_records=1_000_000
    )
    assert out.record.delta == pytest.approx(1e-7)


@pytest.mark.parametrize(
    ("field", "value"),
    [("clip_norm", 0.0), ("clip_norm", -2.0), ("clip_norm", math.nan), ("epsilon", 0.0)],
)
def test_bad_config_values_are_refused_by_field(field: str, value: float) -> None:
    # model_construct skips pydantic's own checks, as a hand-built config could.
    cfg = PrivacyConfig.model_construct(max_records=BOUND, **{field: value})
    with pytest.raises(ConfigError) as err:
        release_statistics(torch.randn(50, 4), cfg=cfg)
    assert err.value.field == f"privacy.{field}"
