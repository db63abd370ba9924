"""SecAgg / SecAgg+: pairwise-masking secure aggregation (Bonawitz et al. 2017; Bell et al. 2020).

``client/`` and ``server/`` are the two sans-IO state machines (bytes in, bytes out); they share
the wire messages (``messages.py``), the session id (``session.py``), the graph (``graph.py``)
and the masking arithmetic (``masking.py``); ``params.py`` and ``planning/`` fix and choose the
session's parameters; ``crypto/`` holds the primitives; ``driver.py`` runs a round in-process.
"""
