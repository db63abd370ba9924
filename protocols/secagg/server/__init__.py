"""The SecAgg server: a sans-IO state machine over the five phases, and its parts.

:class:`SecAggServer` (``machine``) receives replies and closes phases; ``checks`` refuses a bad
reply, ``requests`` builds what opens each phase, ``unmasking`` recovers and verifies the
secrets the masks are stripped with.
"""

from prism_secure.protocols.secagg.server.machine import PHASES, AggregateResult, SecAggServer

__all__ = ["PHASES", "AggregateResult", "SecAggServer"]
