"""PRISM on Flower's deployment engine: a ServerApp and a ClientApp per site, real processes.

The round is the in-process one: the ClientApp (:mod:`.client_app`) trains on its SuperNode
against the release it made once and keeps in its own state folder (:mod:`.site`), samples its
mask, and runs our SecAgg client; the ServerApp (:mod:`.server_app`) runs our SecAgg server and
MADA on the counts through :class:`~.engine.FlowerEngine`. Protocol messages travel as bytes,
one Flower exchange per phase (:mod:`prism_secure.protocols.adapters.flower.transport`). No
message carries a mask, a record count or a client's released statistics.
"""
