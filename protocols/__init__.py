"""Secure aggregation as an embeddable, transport-free library (numpy, cryptography, pydantic)."""
