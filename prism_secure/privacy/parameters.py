"""Validation of the DP parameters and the default-delta rule.

Kept apart from the accountant so the rules a user can break (epsilon, delta, clip norm, client
size) fail early, with a typed error naming the config field, before any Opacus arithmetic runs.
"""

from __future__ import annotations

import math

from prism_secure.errors import ConfigError

#: Fewest records a client may hold under DP. Below this the released statistics are noise and
#: "delta well below 1/n" stops meaning anything.
MIN_RECORDS = 10

#: Ceiling of the default delta; the rule is ``min(DEFAULT_DELTA_CAP, 1 / (10 n))``.
DEFAULT_DELTA_CAP = 1e-5

ACCOUNTANTS = ("rdp", "prv")


class ClientTooSmallError(ConfigError):
    """A client holds too few records for a meaningful (epsilon, delta) guarantee."""


def check_epsilon(epsilon: float) -> float:
    """Return ``epsilon`` as a float, or refuse anything not finite and > 0."""
    eps = float(epsilon)
    if not math.isfinite(eps) or eps <= 0:
        raise ConfigError("privacy.epsilon", f"must be a finite number > 0, got {epsilon!r}")
    return eps


def check_delta(delta: float) -> float:
    """Return ``delta`` as a float, or refuse anything outside the open interval (0, 1)."""
    d = float(delta)
    if not (0.0 < d < 1.0):  # also false for NaN
        raise ConfigError("privacy.delta", f"must lie strictly between 0 and 1, got {delta!r}")
    return d


def check_clip_norm(clip_norm: float) -> float:
    """Return the L2 clip bound C, or refuse anything not finite and > 0."""
    c = float(clip_norm)
    if not math.isfinite(c) or c <= 0:
        raise ConfigError("privacy.clip_norm", f"must be a finite number > 0, got {clip_norm!r}")
    return c


def check_accountant(accountant: str) -> str:
    """Return the accountant name if Opacus has it among the ones we support."""
    if accountant not in ACCOUNTANTS:
        raise ConfigError("privacy.accountant", f"must be one of {ACCOUNTANTS}, got {accountant!r}")
    return accountant


def check_num_records(num_records: int) -> int:
    """Refuse a client with fewer than ``MIN_RECORDS`` records."""
    n = int(num_records)
    if n < MIN_RECORDS:
        raise ClientTooSmallError(
            "num_records",
            f"a client with {n} records is too small for differential privacy (needs at least "
            f"{MIN_RECORDS}); use fewer clients (partition.num_clients) or disable privacy",
        )
    return n


def default_delta(num_records: int) -> float:
    """The delta used when ``PrivacyConfig.delta`` is None: ``min(1e-5, 1 / (10 n))``.

    Always below 1/n by a factor of ten or more, so "delta" cannot hide the release of a whole
    record; 1e-5 for any client of up to 10,000 records (the paper's value).
    """
    n = check_num_records(num_records)
    return min(DEFAULT_DELTA_CAP, 1.0 / (10.0 * n))


def resolve_delta(delta: float | None, num_records: int) -> float:
    """The delta a client's release uses: the explicit one if set (and < 1/n), else the default."""
    n = check_num_records(num_records)
    if delta is None:
        return default_delta(n)
    d = check_delta(delta)
    if d >= 1.0 / n:
        raise ConfigError(
            "privacy.delta",
            f"{d:g} is not below 1/n = {1.0 / n:g} for a client of {n} records: such a delta "
            "allows releasing a record outright; leave it unset for the default min(1e-5, 1/(10n))",
        )
    return d
