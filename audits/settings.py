"""The knobs of an audit, validated."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from prism_secure.audits.attacks.registry import ATTACKS


class AuditSettings(BaseModel):
    """Knobs of an audit; defaults keep an audit of a default run within minutes on 2 cores."""

    model_config = ConfigDict(extra="forbid")

    attacks: list[str] = Field(default_factory=lambda: list(ATTACKS))
    n_samples: int = Field(default=10_000, ge=10)
    n_candidates: int = Field(default=1000, ge=10, description="Members (and as many non-members).")
    n_population: int = Field(default=2000, ge=50)
    n_boot: int = Field(default=1000, ge=10)
    embed_dim: int = Field(default=32, ge=2)
    density_dim: int = Field(default=6, ge=1)
    alpha: float = Field(default=0.05, gt=0, lt=1)
    seed: int = 0
    strict: bool = Field(
        default=False,
        description="Also fail when a threshold bound (not randomised) tops the claim.",
    )
