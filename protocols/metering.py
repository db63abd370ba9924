"""What the in-process drivers count: every byte each client sends and receives, and its compute.

Both drivers (SecAgg, HE) fill one :class:`Meter` and report its medians in the same fields of
:class:`~prism_secure.protocols.result.SecureSumResult`.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager


class Meter:
    """Bytes up and down and compute seconds, per client of one round."""

    def __init__(self, ids: Iterable[int]) -> None:
        ids = list(ids)
        self.up = dict.fromkeys(ids, 0)
        self.down = dict.fromkeys(ids, 0)
        self.cpu = dict.fromkeys(ids, 0.0)

    @contextmanager
    def compute(self, cid: int) -> Iterator[None]:
        """Count the time spent inside as client ``cid``'s compute."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.cpu[cid] += time.perf_counter() - start

    def sent(self, cid: int, data: bytes) -> bytes:
        self.up[cid] += len(data)
        return data

    def received(self, cid: int, data: bytes) -> bytes:
        self.down[cid] += len(data)
        return data

    def client_seconds(self, stayed: list[int]) -> tuple[float, float]:
        """Median and maximum compute over the clients that stayed."""
        times = [self.cpu[c] for c in stayed]
        return statistics.median(times), max(times)


def median_or_zero(values: Iterable[float]) -> float:
    values = list(values)
    return statistics.median(values) if values else 0.0
