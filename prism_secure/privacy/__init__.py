"""Differential privacy for PRISM: one Gaussian release of each client's feature moments.

See :mod:`prism_secure.privacy.mechanism` for the mechanism and its sensitivity,
:mod:`prism_secure.privacy.accounting` for Opacus calibration and read-back, and
:mod:`prism_secure.privacy.ledger` for ``RUN_DIR/privacy.json``.
"""

from prism_secure.privacy.accounting import (
    OPACUS_VERSION,
    RDP_ORDERS,
    calibrate_noise,
    spent_epsilon,
)
from prism_secure.privacy.clipping import ClippedSums, clip_rows, moment_sums
from prism_secure.privacy.ledger import (
    LEDGER_FILENAME,
    ClientPrivacyRecord,
    PrivacyLedger,
    read_ledger,
    write_ledger,
)
from prism_secure.privacy.mechanism import (
    COUNT_WEIGHT,
    NoisySums,
    ReleasedClassStatistics,
    ReleasedStatistics,
    gaussian_release,
    gaussian_release_blocks,
    joint_sensitivity,
    joint_vector,
    moments_from_sums,
    release_class_statistics,
    release_statistics,
)
from prism_secure.privacy.noise import noise_generator
from prism_secure.privacy.parameters import (
    MIN_RECORDS,
    ClientTooSmallError,
    check_clip_norm,
    check_delta,
    check_epsilon,
    default_delta,
    resolve_delta,
)

__all__ = [
    "COUNT_WEIGHT",
    "LEDGER_FILENAME",
    "MIN_RECORDS",
    "OPACUS_VERSION",
    "RDP_ORDERS",
    "ClientPrivacyRecord",
    "ClientTooSmallError",
    "ClippedSums",
    "NoisySums",
    "PrivacyLedger",
    "ReleasedClassStatistics",
    "ReleasedStatistics",
    "calibrate_noise",
    "check_clip_norm",
    "check_delta",
    "check_epsilon",
    "clip_rows",
    "default_delta",
    "gaussian_release",
    "gaussian_release_blocks",
    "joint_sensitivity",
    "joint_vector",
    "moment_sums",
    "moments_from_sums",
    "noise_generator",
    "read_ledger",
    "release_class_statistics",
    "release_statistics",
    "resolve_delta",
    "spent_epsilon",
    "write_ledger",
]
