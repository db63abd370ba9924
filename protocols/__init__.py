"""Secure sums as embeddable, transport-free libraries (numpy, cryptography, pydantic; no torch).

``secagg/`` is pairwise-masking secure aggregation (SecAgg / SecAgg+): sans-IO state machines
(:class:`SecAggClient`, :class:`SecAggServer`) take and return bytes, so any transport can carry
them, and :func:`run_secure_sum` runs a whole round in one process. ``he/`` is the optional
homomorphic path (TenSEAL BFV; import ``prism_secure.protocols.he``). Both return a
:class:`SecureSumResult`; ``adapters/`` carries the protocol over other FL systems' channels.
"""

from prism_secure.protocols.errors import AbortedError, ProtocolViolation, SecAggError, StateError
from prism_secure.protocols.result import HEDetails, SecAggDetails, SecureSumResult
from prism_secure.protocols.secagg.client import AbortCause, SecAggClient
from prism_secure.protocols.secagg.client.states.base import ClientState
from prism_secure.protocols.secagg.driver import phase_names, run_secure_sum
from prism_secure.protocols.secagg.params import SessionParams, choose, count_bits
from prism_secure.protocols.secagg.server import PHASES, AggregateResult, SecAggServer

__all__ = [
    "PHASES",
    "AbortCause",
    "AbortedError",
    "AggregateResult",
    "ClientState",
    "HEDetails",
    "ProtocolViolation",
    "SecAggClient",
    "SecAggDetails",
    "SecAggError",
    "SecAggServer",
    "SecureSumResult",
    "SessionParams",
    "StateError",
    "choose",
    "count_bits",
    "phase_names",
    "run_secure_sum",
]
