"""Secure aggregation as an embeddable, transport-free library (numpy, cryptography, pydantic).

Sans-IO state machines (:class:`SecAggClient`, :class:`SecAggServer`) take and return bytes, so
any transport can carry them; :func:`run_secure_sum` runs a whole round in one process.
"""

from prism_secure.protocols.client import SecAggClient
from prism_secure.protocols.driver import SecureSumResult, phase_names, run_secure_sum
from prism_secure.protocols.errors import AbortedError, ProtocolViolation, SecAggError
from prism_secure.protocols.params import SessionParams, choose, count_bits
from prism_secure.protocols.server import PHASES, AggregateResult, SecAggServer

__all__ = [
    "PHASES",
    "AbortedError",
    "AggregateResult",
    "ProtocolViolation",
    "SecAggClient",
    "SecAggError",
    "SecAggServer",
    "SecureSumResult",
    "SessionParams",
    "choose",
    "count_bits",
    "phase_names",
    "run_secure_sum",
]
