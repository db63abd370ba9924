"""How the chosen clients' masks become the server's count vector.

A :class:`~prism_secure.federation.summers.base.MaskSummer` takes client-side inputs and returns
exactly what the server learns: the count vector, who survived, and what it cost. ``pairwise``
(SecAgg / SecAgg+) is the default, ``homomorphic`` the TenSEAL option; only ``plain`` (chosen
explicitly with ``--secure-agg none``) lets the server see individual masks.
"""
