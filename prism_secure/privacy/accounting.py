"""Opacus accounting for the Gaussian releases of one client.

Each client releases its feature statistics once, with no subsampling: in Opacus's terms one step
at ``sample_rate=1``. Should a release ever be repeated (a run whose persisted release was lost),
the accountant composes the steps, so the ledger never claims less than was spent. Calibration
is Opacus's own bisection (:func:`opacus.accountants.utils.get_noise_multiplier`) and the spent
epsilon is read back from a fresh accountant, so the figure in the ledger is the accountant's.
Both are pure functions of their arguments and are cached: every client of a run shares them.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import opacus
from opacus.accountants import create_accountant
from opacus.accountants.rdp import RDPAccountant
from opacus.accountants.utils import get_noise_multiplier

from prism_secure.errors import ConfigError
from prism_secure.privacy.parameters import check_accountant, check_delta, check_epsilon

#: RDP orders: Opacus's defaults plus larger ones, so a small epsilon (large noise multiplier,
#: large optimal order) still gets a tight RDP-to-DP conversion. More orders can only lower the
#: bound; for epsilon >= 1 at delta 1e-5 the optimum lies inside Opacus's default range anyway.
RDP_ORDERS: tuple[float, ...] = tuple(RDPAccountant.DEFAULT_ALPHAS) + (
    80,
    96,
    128,
    192,
    256,
    384,
    512,
    1024,
)

#: Opacus's bisection stops once the epsilon it reaches is within this of the target (below it).
CALIBRATION_TOLERANCE = 0.01

OPACUS_VERSION: str = opacus.__version__


def _accountant_kwargs(accountant: str) -> dict[str, object]:
    return {"alphas": list(RDP_ORDERS)} if accountant == "rdp" else {}


@functools.lru_cache(maxsize=256)
def calibrate_noise(epsilon: float, delta: float, accountant: str = "rdp") -> float:
    """Noise multiplier (noise std / L2 sensitivity) of one Gaussian release meeting (eps, delta).

    The result's epsilon, as the same accountant reads it, is at most ``epsilon`` and within
    ``CALIBRATION_TOLERANCE`` of it.
    """
    eps = check_epsilon(epsilon)
    d = check_delta(delta)
    acc = check_accountant(accountant)
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        # Bisection probes very large multipliers whose optimal RDP order is off the grid, and
        # Opacus's PRV code takes log(1 - q) = log(0) at q = 1; both only warn, harmlessly.
        warnings.simplefilter("ignore")
        try:
            return float(
                get_noise_multiplier(
                    target_epsilon=eps,
                    target_delta=d,
                    sample_rate=1.0,
                    steps=1,
                    accountant=acc,
                    epsilon_tolerance=CALIBRATION_TOLERANCE,
                    **_accountant_kwargs(acc),
                )
            )
        except ValueError as exc:  # Opacus: "The privacy budget is too low."
            raise ConfigError(
                "privacy.epsilon", f"{eps:g} is too small to calibrate: {exc}"
            ) from exc


@functools.lru_cache(maxsize=256)
def spent_epsilon(
    noise_multiplier: float, delta: float, accountant: str = "rdp", releases: int = 1
) -> float:
    """Epsilon that ``accountant`` charges ``releases`` releases at ``noise_multiplier``."""
    z = float(noise_multiplier)
    if not z > 0:
        raise ValueError(f"noise_multiplier must be > 0, got {noise_multiplier!r}")
    if releases < 1:
        raise ValueError(f"releases must be >= 1, got {releases!r}")
    d = check_delta(delta)
    acc = check_accountant(accountant)
    ledger = create_accountant(mechanism=acc)
    for _ in range(releases):
        ledger.step(noise_multiplier=z, sample_rate=1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(ledger.get_epsilon(d, **_accountant_kwargs(acc)))
