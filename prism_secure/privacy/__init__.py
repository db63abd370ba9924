"""Differential privacy for PRISM: one Gaussian release of each client's feature moments.

:mod:`~prism_secure.privacy.gaussian` holds the mechanism's arithmetic and its sensitivity
derivation; :mod:`~prism_secure.privacy.release` one client's release (public bound, noise
stream, ledger record); :mod:`~prism_secure.privacy.accounting` Opacus calibration and
read-back; :mod:`~prism_secure.privacy.ledger` ``RUN_DIR/privacy.json``.
"""

from prism_secure.privacy.accounting import (
    OPACUS_VERSION,
    RDP_ORDERS,
    calibrate_noise,
    spent_epsilon,
)
from prism_secure.privacy.clipping import ClippedSums, clip_rows, moment_sums
from prism_secure.privacy.gaussian import (
    COUNT_WEIGHT,
    NoisySums,
    gaussian_release,
    gaussian_release_blocks,
    joint_sensitivity,
    joint_vector,
    moments_from_sums,
)
from prism_secure.privacy.ledger import (
    LEDGER_FILENAME,
    ClientPrivacyRecord,
    PrivacyLedger,
    ReleaseParameters,
    client_record,
    read_ledger,
    write_ledger,
)
from prism_secure.privacy.noise import noise_generator, stream_seed
from prism_secure.privacy.parameters import (
    check_clip_norm,
    check_delta,
    check_epsilon,
    check_max_records,
    default_delta,
    resolve_delta,
)
from prism_secure.privacy.release import (
    ReleasedClassStatistics,
    ReleasedStatistics,
    check_release_parameters,
    release_class_statistics,
    release_statistics,
)

__all__ = [
    "COUNT_WEIGHT",
    "LEDGER_FILENAME",
    "OPACUS_VERSION",
    "RDP_ORDERS",
    "ClientPrivacyRecord",
    "ClippedSums",
    "NoisySums",
    "PrivacyLedger",
    "ReleaseParameters",
    "ReleasedClassStatistics",
    "ReleasedStatistics",
    "calibrate_noise",
    "check_clip_norm",
    "check_release_parameters",
    "check_delta",
    "check_epsilon",
    "check_max_records",
    "client_record",
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
    "stream_seed",
    "write_ledger",
]
