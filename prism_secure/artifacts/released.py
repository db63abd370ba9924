"""Each client's released statistics on disk: written once, atomically, before round 1.

A run that stops anywhere after its release (a crash, Ctrl-C, a kill) resumes with these exact
statistics: releasing again would spend the privacy budget twice. The files hold noisy
quantities and their ledger record only, so they are covered by the guarantee; they are read
back with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import io
from pathlib import Path

import torch

from prism_secure.artifacts.atomic import write_bytes_atomic
from prism_secure.artifacts.schema import RELEASED
from prism_secure.errors import RunDirError
from prism_secure.privacy import (
    ClientPrivacyRecord,
    ReleasedClassStatistics,
    ReleasedStatistics,
)

Released = ReleasedStatistics | ReleasedClassStatistics


class ReleaseStore:
    """``RUN_DIR/released/client_<id>.pt``, one per client."""

    def __init__(self, run_dir: Path) -> None:
        self.folder = Path(run_dir) / RELEASED

    def path(self, cid: int) -> Path:
        return self.folder / f"client_{int(cid):05d}.pt"

    def save(self, cid: int, released: Released) -> None:
        state: dict[str, object] = {"record": released.record.model_dump_json()}
        if isinstance(released, ReleasedClassStatistics):
            state.update(
                kind="class",
                mean=released.mean,
                var=released.var,
                counts=released.released_counts,
            )
        else:
            state.update(
                kind="plain",
                mean=released.mean,
                var=released.var,
                count=released.released_count,
                feature_sum=released.feature_sum,
                square_sum=released.square_sum,
            )
        buf = io.BytesIO()
        torch.save(state, buf)
        write_bytes_atomic(self.path(cid), buf.getvalue())

    def load(self, cid: int) -> Released | None:
        """The client's release, or None if it has not been made; a damaged file is an error."""
        path = self.path(cid)
        if not path.exists():
            return None
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            record = ClientPrivacyRecord.model_validate_json(state["record"])
            if state["kind"] == "class":
                return ReleasedClassStatistics(state["mean"], state["var"], state["counts"], record)
            return ReleasedStatistics(
                mean=state["mean"],
                var=state["var"],
                released_count=float(state["count"]),
                feature_sum=state["feature_sum"],
                square_sum=state["square_sum"],
                record=record,
            )
        except (OSError, RuntimeError, KeyError, ValueError, TypeError) as exc:
            raise RunDirError(
                f"{path} is damaged ({exc}); it holds this client's one DP release, so it is "
                "not made again: restore it, or start a new run"
            ) from exc
