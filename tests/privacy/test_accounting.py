"""Opacus calibration and read-back for one Gaussian release, checked against exact analysis."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq
from scipy.stats import norm

from prism_secure.config import build_config
from prism_secure.errors import ConfigError
from prism_secure.privacy import calibrate_noise, spent_epsilon
from prism_secure.privacy.accounting import CALIBRATION_TOLERANCE


def exact_gaussian_epsilon(noise_multiplier: float, delta: float) -> float:
    """Balle & Wang 2018: the smallest eps with delta(eps) <= delta, sensitivity 1, std z."""
    z = noise_multiplier

    def delta_of(eps: float) -> float:
        return norm.cdf(0.5 / z - eps * z) - math.exp(eps) * norm.cdf(-0.5 / z - eps * z)

    return brentq(lambda e: delta_of(e) - delta, 0.0, 200.0, xtol=1e-12)


@pytest.mark.parametrize(
    ("epsilon", "expected"),
    [(1.0, 4.06), (8.0, 0.638), (9.8, 0.539)],
)
def test_rdp_calibration_matches_known_multipliers(epsilon: float, expected: float) -> None:
    z = calibrate_noise(epsilon, 1e-5, "rdp")
    assert z == pytest.approx(expected, abs=0.01)
    spent = spent_epsilon(z, 1e-5, "rdp")
    assert epsilon - CALIBRATION_TOLERANCE <= spent <= epsilon


def test_prv_calibration_is_tighter_than_rdp() -> None:
    z_prv = calibrate_noise(8.0, 1e-5, "prv")
    assert z_prv < calibrate_noise(8.0, 1e-5, "rdp")
    assert 7.9 <= spent_epsilon(z_prv, 1e-5, "prv") <= 8.0


@pytest.mark.parametrize("z", [0.5, 0.64, 1.0, 2.0, 4.06, 10.0])
def test_accountants_against_exact_gaussian_mechanism(z: float) -> None:
    exact = exact_gaussian_epsilon(z, 1e-5)
    rdp = spent_epsilon(z, 1e-5, "rdp")
    prv = spent_epsilon(z, 1e-5, "prv")
    # RDP converts through Renyi divergences: a valid upper bound, here 7-10% loose.
    assert exact <= rdp <= 1.15 * exact
    # PRV returns its upper estimate, within its eps_error (0.01) of the truth.
    assert exact <= prv <= exact + 0.02


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf])
def test_bad_epsilon_is_refused(bad: float) -> None:
    with pytest.raises(ConfigError) as err:
        calibrate_noise(bad, 1e-5)
    assert err.value.field == "privacy.epsilon"


@pytest.mark.parametrize("bad", [0.0, 1.0, 1.5, -1e-5, math.nan])
def test_bad_delta_is_refused(bad: float) -> None:
    with pytest.raises(ConfigError) as err:
        calibrate_noise(8.0, bad)
    assert err.value.field == "privacy.delta"
    with pytest.raises(ConfigError) as err:
        spent_epsilon(1.0, bad)
    assert err.value.field == "privacy.delta"


def test_unknown_accountant_is_refused() -> None:
    with pytest.raises(ConfigError) as err:
        calibrate_noise(8.0, 1e-5, "gdp")
    assert err.value.field == "privacy.accountant"


def test_config_refuses_bad_values_by_field() -> None:
    for key, value in [
        ("privacy.epsilon", 0),
        ("privacy.delta", 1.0),
        ("privacy.clip_norm", -1.0),
    ]:
        with pytest.raises(ConfigError) as err:
            build_config(overrides={key: value})
        assert err.value.field == key


@settings(max_examples=40, deadline=None)
@given(
    eps=st.floats(min_value=0.3, max_value=20.0),
    gap=st.floats(min_value=0.05, max_value=10.0),
)
def test_noise_decreases_with_epsilon(eps: float, gap: float) -> None:
    low, high = calibrate_noise(eps, 1e-5), calibrate_noise(eps + gap, 1e-5)
    assert low > high > 0


@settings(max_examples=40, deadline=None)
@given(
    eps=st.floats(min_value=0.2, max_value=30.0),
    delta=st.floats(min_value=1e-9, max_value=1e-3),
)
def test_calibrated_release_never_exceeds_target(eps: float, delta: float) -> None:
    spent = spent_epsilon(calibrate_noise(eps, delta), delta)
    assert eps - CALIBRATION_TOLERANCE - 1e-9 <= spent <= eps
