"""prism-secure: federated training of masked image generators with DP and secure aggregation."""

__version__ = "0.1.0"
