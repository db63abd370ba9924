"""Rounds of federated training, whatever carries their messages.

One round is the same everywhere: the chosen clients train locally and sample a mask
(:mod:`.client_round`), a secure sum turns the masks into a count vector (:mod:`.summers`), and
the server updates the global scores from the counts alone (:mod:`.server`). An
:class:`~prism_secure.federation.engine.Engine` only carries the messages: the in-process engine
(:mod:`.inprocess`) here, a Flower engine beside it.
"""
