"""Validation of the DP parameters and the default-delta rule.

Kept apart from the accountant so the rules a user can break (epsilon, delta, clip norm, the
bound on records per client) fail early, with a typed error naming the config field, before any
Opacus arithmetic runs.

Every parameter of the mechanism comes from configuration and from ``max_records``, a *public*
bound on the records one client may contribute, never from a client's true record count: under
add/remove-one neighbours the count is private, and a delta, a noise multiplier or a refusal that
moved with it would publish it.
"""

from __future__ import annotations

import math

from prism_secure.errors import ConfigError

#: Ceiling of the default delta; the rule is ``min(DEFAULT_DELTA_CAP, 1 / (10 max_records))``.
DEFAULT_DELTA_CAP = 1e-5

ACCOUNTANTS = ("rdp", "prv")


def _finite_positive(value: float, field: str) -> float:
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        raise ConfigError(field, f"must be a finite number > 0, got {value!r}")
    return number


def check_epsilon(epsilon: float) -> float:
    """Return ``epsilon`` as a float, or refuse anything not finite and > 0."""
    return _finite_positive(epsilon, "privacy.epsilon")


def check_delta(delta: float) -> float:
    """Return ``delta`` as a float, or refuse anything outside the open interval (0, 1)."""
    d = float(delta)
    if not (0.0 < d < 1.0):  # also false for NaN
        raise ConfigError("privacy.delta", f"must lie strictly between 0 and 1, got {delta!r}")
    return d


def check_clip_norm(clip_norm: float) -> float:
    """Return the L2 clip bound C, or refuse anything not finite and > 0."""
    return _finite_positive(clip_norm, "privacy.clip_norm")


def check_accountant(accountant: str) -> str:
    """Return the accountant name if Opacus has it among the ones we support."""
    if accountant not in ACCOUNTANTS:
        raise ConfigError("privacy.accountant", f"must be one of {ACCOUNTANTS}, got {accountant!r}")
    return accountant


def check_max_records(max_records: int | None) -> int:
    """The public bound on records per client; refuse a missing or non-positive one."""
    if max_records is None:
        raise ConfigError(
            "privacy.max_records",
            "a public bound on the records one client may hold is needed to set delta and the "
            "noise without reading the private count; set privacy.max_records",
        )
    if isinstance(max_records, bool) or int(max_records) != max_records or max_records < 1:
        raise ConfigError("privacy.max_records", f"must be an integer >= 1, got {max_records!r}")
    return int(max_records)


def default_delta(max_records: int) -> float:
    """The delta used when ``PrivacyConfig.delta`` is None: ``min(1e-5, 1 / (10 max_records))``.

    Below 1/n by a factor of ten or more for every client the bound admits, so "delta" cannot
    hide the release of a whole record; 1e-5 (the paper's value) up to 10,000 records.
    """
    return min(DEFAULT_DELTA_CAP, 1.0 / (10.0 * check_max_records(max_records)))


def resolve_delta(delta: float | None, max_records: int) -> float:
    """The delta of a release: the explicit one if set (and < 1/max_records), else the default."""
    bound = check_max_records(max_records)
    if delta is None:
        return default_delta(bound)
    d = check_delta(delta)
    if d >= 1.0 / bound:
        raise ConfigError(
            "privacy.delta",
            f"{d:g} is not below 1/max_records = {1.0 / bound:g}: for a client of that many "
            "records such a delta allows releasing a record outright; leave it unset for the "
            "default min(1e-5, 1/(10 max_records))",
        )
    return d
