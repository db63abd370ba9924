"""The privacy ledger: what was released, under which guarantee, as ``RUN_DIR/privacy.json``.

One :class:`ClientPrivacyRecord` per client (written by the mechanism at release time), gathered
into a :class:`PrivacyLedger` whose one-line ``statement`` is what a user should quote. A run
without DP gets a ledger too, one that says plainly there is no guarantee.

The ledger holds public parameters only: no record count and no released value, so it is the
same for neighbouring datasets. It names the files the guarantee covers and the operator-only
files it does not.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from prism_secure.artifacts.atomic import write_json_atomic
from prism_secure.artifacts.schema import COVERED, OPERATOR_ONLY
from prism_secure.config import PrivacyConfig
from prism_secure.privacy.accounting import OPACUS_VERSION, spent_epsilon
from prism_secure.privacy.gaussian import COUNT_WEIGHT, joint_sensitivity

LEDGER_FILENAME = "privacy.json"
MECHANISM = "gaussian-moments"
NEIGHBOURING = "add/remove-one"
UNIT = "every record of every client's dataset as partitioned"
THREAT = "against the server, other clients and anyone holding the covered files"
NO_DP_STATEMENT = (
    "NO differential privacy: real-data statistics were released exactly, with no clipping and "
    "no noise; nothing bounds what the model or the aggregates reveal about any record"
)


#: The fields a ledger and a client record share, as they read when nothing was privatised.
_NO_DP: dict[str, object] = {
    "mechanism": "none",
    "neighbouring": None,
    "accountant": None,
    "opacus_version": None,
    "target_epsilon": None,
    "epsilon": math.inf,
    "delta": None,
    "clip_norm": None,
    "noise_seeded": False,
}


class _Frozen(BaseModel):
    # epsilon may be inf (no DP); write it as the string "Infinity" so the JSON stays valid.
    model_config = ConfigDict(extra="forbid", frozen=True, ser_json_inf_nan="strings")


class ClientPrivacyRecord(_Frozen):
    """How one client's statistics were released, and what it cost that client's records."""

    enabled: bool
    max_records: int | None = Field(
        ge=1, description="Public bound on the client's records; larger datasets are truncated."
    )
    feature_dim: int = Field(ge=0)
    label_blocks: int = Field(
        default=1, ge=1, description="Per-label statistics released (1: unconditional)."
    )
    num_releases: int = Field(ge=0, description="Gaussian releases of this client's data.")
    mechanism: str
    neighbouring: str | None
    clip_norm: float | None
    count_weight: float | None = Field(description="kappa: the count enters as kappa*C.")
    l2_sensitivity: float = Field(ge=0, description="Of the joint released vector.")
    noise_multiplier: float = Field(ge=0, description="Noise std / L2 sensitivity.")
    sigma_feature_sum: float = Field(ge=0, description="Noise std on each sum of features.")
    sigma_square_sum: float = Field(ge=0, description="Noise std on each sum of squares.")
    sigma_count: float = Field(ge=0, description="Noise std on the record count.")
    target_epsilon: float | None
    epsilon: float = Field(
        description="Read back from the accountant, composed over num_releases; inf without DP."
    )
    delta: float | None
    accountant: str | None
    opacus_version: str | None
    noise_seeded: bool = Field(description="True voids the guarantee against who knows the seed.")


class ReleaseParameters(_Frozen):
    """The public parameters of one client's DP release: all a ledger record is made from."""

    clip_norm: float
    noise_multiplier: float
    delta: float
    target_epsilon: float
    accountant: str
    max_records: int
    noise_seeded: bool
    releases: int = Field(ge=1)


def client_record(
    cfg: PrivacyConfig, feature_dim: int, label_blocks: int, params: ReleaseParameters | None
) -> ClientPrivacyRecord:
    """The ledger record of one client's release; ``params=None`` records an exact, non-DP one."""
    if params is None:
        return ClientPrivacyRecord(
            enabled=False,
            max_records=cfg.max_records,
            feature_dim=feature_dim,
            label_blocks=label_blocks,
            num_releases=0,
            count_weight=None,
            l2_sensitivity=0.0,
            noise_multiplier=0.0,
            sigma_feature_sum=0.0,
            sigma_square_sum=0.0,
            sigma_count=0.0,
            **_NO_DP,  # type: ignore[arg-type]
        )
    c, z = params.clip_norm, params.noise_multiplier
    std = z * joint_sensitivity(c)
    return ClientPrivacyRecord(
        enabled=True,
        max_records=params.max_records,
        feature_dim=feature_dim,
        label_blocks=label_blocks,
        num_releases=params.releases,
        mechanism=MECHANISM,
        neighbouring=NEIGHBOURING,
        clip_norm=c,
        count_weight=COUNT_WEIGHT,
        l2_sensitivity=joint_sensitivity(c),
        noise_multiplier=z,
        sigma_feature_sum=std,
        sigma_square_sum=std * c,
        sigma_count=std / (COUNT_WEIGHT * c),
        target_epsilon=params.target_epsilon,
        epsilon=spent_epsilon(z, params.delta, params.accountant, params.releases),
        delta=params.delta,
        accountant=params.accountant,
        opacus_version=OPACUS_VERSION,
        noise_seeded=params.noise_seeded,
    )


def _statement(epsilon: float, delta: float, seeded: bool, releases: int) -> str:
    text = (
        f"({epsilon:.2f}, {delta:.1e})-DP for {UNIT}, {NEIGHBOURING}, {THREAT}; "
        f"{releases} Gaussian release{'s' if releases != 1 else ''} per client"
    )
    if seeded:
        text += "; the noise was SEEDED, so none of this holds against anyone who knows the seed"
    return text


class PrivacyLedger(_Frozen):
    """The run's privacy account, one record per client, and the statement it supports."""

    schema_version: Literal[2] = 2
    guarantee: bool
    statement: str
    mechanism: str
    neighbouring: str | None
    accountant: str | None
    opacus_version: str | None
    target_epsilon: float | None
    epsilon: float = Field(description="Max over clients (parallel composition); inf without DP.")
    delta: float | None = Field(description="Max over clients.")
    clip_norm: float | None
    noise_seeded: bool
    releases_per_client: int = Field(ge=0, description="Max over clients; 1 unless repeated.")
    covered_files: dict[str, str] = Field(default_factory=lambda: dict(COVERED))
    operator_only_files: dict[str, str] = Field(default_factory=lambda: dict(OPERATOR_ONLY))
    clients: dict[int, ClientPrivacyRecord]

    @classmethod
    def from_records(
        cls, cfg: PrivacyConfig, records: dict[int, ClientPrivacyRecord]
    ) -> PrivacyLedger:
        """Gather per-client records; refuses records that disagree with ``cfg`` or each other."""
        records = {int(k): v for k, v in records.items()}
        mismatched = sorted(k for k, r in records.items() if r.enabled != cfg.enabled)
        if mismatched:
            raise ValueError(
                f"clients {mismatched} were released with privacy.enabled="
                f"{not cfg.enabled}, the config says {cfg.enabled}"
            )
        if not cfg.enabled:
            return cls(
                guarantee=False,
                statement=NO_DP_STATEMENT,
                releases_per_client=0,
                clients=records,
                **_NO_DP,  # type: ignore[arg-type]
            )
        if not records:
            raise ValueError("a DP ledger needs at least one client record")
        first = next(iter(records.values()))
        for key in ("clip_norm", "accountant", "mechanism", "neighbouring", "target_epsilon"):
            values = {getattr(r, key) for r in records.values()}
            if len(values) > 1:
                raise ValueError(f"client records disagree on {key}: {sorted(map(str, values))}")
        epsilon = max(r.epsilon for r in records.values())
        delta = max(r.delta for r in records.values() if r.delta is not None)
        seeded = any(r.noise_seeded for r in records.values())
        releases = max(r.num_releases for r in records.values())
        common = {k: getattr(first, k) for k in _NO_DP}
        common.update(epsilon=epsilon, delta=delta, noise_seeded=seeded)
        return cls(
            guarantee=True,
            statement=_statement(epsilon, delta, seeded, releases),
            releases_per_client=releases,
            clients=records,
            **common,
        )


def write_ledger(run_dir: Path, ledger: PrivacyLedger) -> Path:
    """Write ``RUN_DIR/privacy.json`` atomically and return its path."""
    path = Path(run_dir) / LEDGER_FILENAME
    # Via pydantic's JSON encoder: inf becomes "Infinity", a string, so the file is strict JSON.
    write_json_atomic(path, json.loads(ledger.model_dump_json()))
    return path


def read_ledger(run_dir: Path) -> PrivacyLedger:
    """Load and validate ``RUN_DIR/privacy.json``."""
    path = Path(run_dir) / LEDGER_FILENAME
    return PrivacyLedger.model_validate_json(path.read_text())
