"""The server's state after a round: what a resumed run needs to continue exactly.

Clients' targets are not in it: they are read back from ``released/``. The file holds global
scores, the server's RNG state and byte totals, so it carries no record count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from prism_secure.artifacts.rundir import RunDirectory
from prism_secure.errors import RunDirError

_KEYS = {"round", "scores", "server_rng", "totals"}


@dataclass
class ServerCheckpoint:
    round: int
    scores: torch.Tensor
    server_rng: torch.Tensor
    totals: dict[str, int] = field(default_factory=dict)

    def save(self, run: RunDirectory) -> None:
        run.save_checkpoint(
            {
                "round": self.round,
                "scores": self.scores,
                "server_rng": self.server_rng,
                "totals": dict(self.totals),
            }
        )

    @classmethod
    def load(cls, run: RunDirectory) -> ServerCheckpoint | None:
        """The last checkpoint, or None before round 1 ended; a foreign one is an error."""
        state: Any = run.load_checkpoint()
        if state is None:
            return None
        if not isinstance(state, dict) or set(state) != _KEYS:
            found = sorted(state) if isinstance(state, dict) else type(state).__name__
            raise RunDirError(
                f"{run.checkpoint_path} holds {found}, not a checkpoint of this version "
                f"({sorted(_KEYS)}); it cannot be resumed"
            )
        return cls(
            round=int(state["round"]),
            scores=state["scores"],
            server_rng=state["server_rng"],
            totals={k: int(v) for k, v in state["totals"].items()},
        )
