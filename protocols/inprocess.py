"""What both in-process drivers share: the dropouts they simulate, and what they count.

Each secure sum names its own dropout phases (``phase_names()`` of its driver); a driver checks
the caller's ``dropouts`` against them with :func:`check_dropouts`. Both drivers fill one
:class:`Meter` with every byte each client sends and receives and its compute, and report its
medians in the same fields of :class:`~prism_secure.protocols.result.SecureSumResult`.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
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


def check_dropouts(
    dropouts: Mapping[int, str] | None, inputs: Mapping[int, object], phases: Sequence[str]
) -> dict[int, str]:
    """``dropouts`` (client -> the phase whose message it never sends), checked against the
    driver's ``phases`` and the clients that have an input."""
    drops = {int(c): phase for c, phase in (dropouts or {}).items()}
    for cid, phase in drops.items():
        if phase not in phases:
            raise ValueError(f"dropouts[{cid}]: unknown phase {phase!r}; use one of {phases}")
        if cid not in inputs:
            raise ValueError(f"dropouts names client {cid}, which has no input")
    return drops
