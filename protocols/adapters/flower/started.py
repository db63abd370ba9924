"""A process the local federation started: its own child, or a SuperNode another child forked.

The federation signals, waits for and kills both kinds the same way. A forked SuperNode is
reaped by the process that forked it, so its end is seen in ``/proc``, not by ``waitpid``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass

from prism_secure.protocols.adapters.flower.processes import alive


@dataclass
class Started:
    name: str
    argv: list[str]
    proc: subprocess.Popen[bytes] | None = None
    forked: int | None = None  # the pid of a SuperNode forked by another child

    @property
    def pid(self) -> int:
        pid = self.proc.pid if self.proc is not None else self.forked
        assert pid is not None, f"{self.name} has no process"
        return pid

    def running(self) -> bool:
        if self.proc is not None:
            return self.proc.poll() is None
        return self.forked is not None and alive(self.forked)

    def signal(self, signum: int) -> None:
        if self.running():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def wait(self, timeout: float) -> bool:
        """Whether it ended within ``timeout`` seconds."""
        if self.proc is not None:
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                return False
            return True
        deadline = time.monotonic() + timeout
        while self.running():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    def kill(self, timeout: float = 30.0, signum: int | None = None) -> None:
        """SIGKILL (or ``signum``), then wait for the end (a forked node's parent reaps it)."""
        signum = signal.SIGKILL if signum is None else signum
        self.signal(signum)
        if not self.wait(timeout):
            name = signal.Signals(signum).name
            raise TimeoutError(f"{self.name} (pid {self.pid}) outlived {name} for {timeout} s")
