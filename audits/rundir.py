"""Read-only view of a run directory: the files an audit needs, checked against each other.

Every problem names the file and what is wrong with it, so that a user can tell a missing file
from a run that was written by a different version or for a different dataset.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from prism_secure.artifacts.schema import (
    CONFIG,
    MEMBERSHIP,
    MODEL,
    PRIVACY,
    TRANSCRIPT,
    Membership,
)
from prism_secure.config import RunConfig, stored_run_config
from prism_secure.errors import RunDirError


class PrivacyClaim(BaseModel):
    """The part of the ledger an audit checks: the claimed (epsilon, delta), if any."""

    model_config = ConfigDict(extra="allow")

    epsilon: float | None = None
    delta: float | None = None
    guarantee: bool | None = None

    @field_validator("epsilon", mode="before")
    @classmethod
    def _infinity_is_no_claim(cls, v: Any) -> Any:
        if isinstance(v, str) and v.lower() in ("infinity", "inf"):
            return math.inf
        return v

    @property
    def claimed_epsilon(self) -> float | None:
        """None when the run claims no DP (DP off, or an infinite epsilon)."""
        if self.guarantee is False or self.epsilon is None or not math.isfinite(self.epsilon):
            return None
        return self.epsilon


@dataclass(frozen=True)
class RunDir:
    path: Path
    config: RunConfig
    membership: Membership
    privacy: PrivacyClaim

    @property
    def model_path(self) -> Path:
        return self.path / MODEL

    @property
    def transcript_path(self) -> Path | None:
        p = self.path / TRANSCRIPT
        return p if p.is_dir() else None

    def check_indices(self, dataset_size: int) -> None:
        """Every recorded index must point into the dataset the audit loaded."""
        m = self.membership
        every = m.members | set(m.holdout)
        if m.canaries is not None:
            every |= set(m.canaries.candidates)
        bad = sorted(i for i in every if not 0 <= i < dataset_size)
        if bad:
            raise RunDirError(
                f"{self.path / MEMBERSHIP}: indices {bad[:5]} lie outside the "
                f"{m.dataset} {m.split} split of {dataset_size} records; was the run made on "
                "other data?"
            )


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise RunDirError(f"{path} is missing; is {path.parent} a finished run directory?")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunDirError(f"{path} is not valid JSON: {exc}") from exc


def _validated(model: type[BaseModel], path: Path, data: Any) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "top level"
        raise RunDirError(f"{path}: {where}: {first['msg']}") from exc


def _check_membership(path: Path, cfg: RunConfig, m: Membership, reference: bool) -> None:
    if m.dataset != cfg.data.dataset:
        raise RunDirError(
            f"{path} is for dataset {m.dataset!r} but {CONFIG} trains on {cfg.data.dataset!r}"
        )
    if m.split != cfg.data.split:
        raise RunDirError(f"{path}: split is {m.split!r} but {CONFIG} says {cfg.data.split!r}")
    if m.split != "train" and not reference:
        raise RunDirError(
            f"{path}: the run trained on the {m.split!r} split; audits expect 'train' "
            "(a test-split run serves as --reference)"
        )
    if not m.members:
        raise RunDirError(f"{path}: no client trained on any record")
    overlap = m.members & set(m.holdout)
    if overlap:
        raise RunDirError(
            f"{path}: {len(overlap)} held-out records are also members (e.g. {sorted(overlap)[:5]})"
        )
    if m.canaries is not None:
        c = m.canaries
        stray = set(c.inserted) - set(c.candidates)
        if stray:
            raise RunDirError(f"{path}: inserted canaries {sorted(stray)[:5]} are not candidates")
        if len(set(c.candidates)) != len(c.candidates):
            raise RunDirError(f"{path}: canary candidates repeat an index")
        if set(c.candidates) & set(m.holdout):
            raise RunDirError(f"{path}: canary candidates overlap the held-out records")


def load_run_dir(path: Path, *, reference: bool = False) -> RunDir:
    """Load and cross-check config, membership and ledger; the model file must exist.

    ``reference`` accepts a run trained on the test split: a reference generator, not an audit
    target.
    """
    path = Path(path)
    if not path.is_dir():
        raise RunDirError(f"{path} is not a directory")
    cfg_path = path / CONFIG
    if not cfg_path.is_file():
        raise RunDirError(f"{cfg_path} is missing; is {path} a run directory?")
    try:
        config = stored_run_config(cfg_path.read_text())
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "top level"
        raise RunDirError(f"{cfg_path}: {where}: {first['msg']}") from exc
    mem_path = path / MEMBERSHIP
    membership = _validated(Membership, mem_path, _read_json(mem_path))
    _check_membership(mem_path, config, membership, reference)
    priv_path = path / PRIVACY
    privacy = _validated(PrivacyClaim, priv_path, _read_json(priv_path))
    if config.privacy.enabled and privacy.claimed_epsilon is None:
        raise RunDirError(f"{priv_path} claims no epsilon but {CONFIG} enables DP")
    if not (path / MODEL).is_file():
        raise RunDirError(f"{path / MODEL} is missing; did training finish?")
    if config.audit.canaries > 0 and membership.canaries is None:
        raise RunDirError(
            f"{mem_path} lists no canaries but {CONFIG} asked for {config.audit.canaries}"
        )
    return RunDir(path=path, config=config, membership=membership, privacy=privacy)
