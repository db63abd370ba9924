"""What a training run tells its user interface, and the silent default.

The application layer never prints: it reports notices and progress here, and the CLI draws
them (``cli/progress.py``). Without a user interface a notice still reaches the user as a
Python warning.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Protocol


class TrainingEvents(Protocol):
    """Callbacks of one run, in the order they happen."""

    def notice(self, text: str) -> None:
        """Something the user must read before trusting the run (no DP, a likely abort)."""

    def rounds_started(self, first: int, last: int, clients: int) -> None:
        """Rounds ``first..last`` are about to run with this many clients each."""

    def client_trained(self, round_index: int, cid: int) -> None:
        """One client finished its local training of this round."""

    def round_finished(self, record: dict[str, Any]) -> None:
        """The round's metrics record, as written to ``metrics.jsonl``."""

    def run_finished(self, run_dir: Path, summary: dict[str, Any]) -> None:
        """The model is exported; ``summary`` is what ``summary.json`` holds."""


class SilentEvents:
    """No progress output; notices become :class:`UserWarning` so they are never lost."""

    def notice(self, text: str) -> None:
        warnings.warn(text, UserWarning, stacklevel=3)

    def rounds_started(self, first: int, last: int, clients: int) -> None:
        pass

    def client_trained(self, round_index: int, cid: int) -> None:
        pass

    def round_finished(self, record: dict[str, Any]) -> None:
        pass

    def run_finished(self, run_dir: Path, summary: dict[str, Any]) -> None:
        pass
