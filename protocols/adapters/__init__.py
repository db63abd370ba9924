"""Adapters that carry :mod:`prism_secure.protocols` over other FL systems' channels."""
