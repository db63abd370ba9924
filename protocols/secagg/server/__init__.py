"""The SecAgg server: a sans-IO state machine over the five phases, and its parts.

:class:`SecAggServer` (``machine``) receives replies and closes phases (``phases`` names them
and the reply each waits for); ``checks`` refuses a bad reply, ``requests`` builds what opens
each phase, ``unmasking`` recovers and verifies the secrets the masks are stripped with.
"""

from prism_secure.protocols.secagg.server.machine import SecAggServer
from prism_secure.protocols.secagg.server.phases import PHASES, AggregateResult

__all__ = ["PHASES", "AggregateResult", "SecAggServer"]
