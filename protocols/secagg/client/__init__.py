"""The SecAgg client: a sans-IO state machine with one module per state (see ``states/``).

:class:`SecAggClient` is the facade a transport drives (``start``, ``receive``, ``abort_message``,
``export_state`` / ``from_state``); ``checks`` holds its refusals of what the server sends,
``dealing`` the shares it deals, ``own_keys`` its secrets for the round, and ``records`` /
``snapshot`` the saved form of every state.
"""

from prism_secure.protocols.secagg.client.machine import SecAggClient
from prism_secure.protocols.secagg.client.states.aborted import AbortCause

__all__ = ["AbortCause", "SecAggClient"]
