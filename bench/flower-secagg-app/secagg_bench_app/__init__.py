"""The benchmark app of ``bench/flower_secagg_loopback.py``: numpy only, no training."""
