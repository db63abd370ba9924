"""At most K trainings at once among the sites of one host: slots held as file locks.

In a one-machine trial every SuperNode trains at once on the same few cores; ten processes on
two cores run slower together than one after the other, and each holds its own model in memory.
A site whose node config names ``train-slots`` and ``train-slots-dir`` trains only while it holds
one of that many locks on files in that folder. The kernel drops a lock when its process ends,
however it ends, so a killed ClientApp never keeps a slot. Sites on machines of their own leave
both keys out and never wait.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no slots, every site trains at once
    fcntl = None  # type: ignore[assignment]


@contextmanager
def training_slot(folder: Path | None, slots: int | None, poll: float = 0.05) -> Iterator[None]:
    """Hold one of ``slots`` slots in ``folder`` for the duration (no wait when either is None)."""
    if folder is None or not slots or fcntl is None:
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    while True:
        for index in random.sample(range(slots), slots):  # no slot is everyone's first try
            fd = os.open(folder / f"slot-{index}", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
            return
        time.sleep(poll)
