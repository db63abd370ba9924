"""The attacks by name, over one shared bundle of inputs, so the CLI can pick them from a list."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from prism_secure.audits.attacks.density_ratio import density_ratio_scores
from prism_secure.audits.attacks.distances import Array, as_rows
from prism_secure.audits.attacks.embedding import PcaEmbedding
from prism_secure.audits.attacks.monte_carlo import monte_carlo_scores
from prism_secure.audits.attacks.nearest_neighbour import (
    calibrated_nearest_neighbour_scores,
    nearest_neighbour_scores,
)
from prism_secure.audits.errors import AuditInputError

Scores = NDArray[np.float64]


class AttackSkipped(Exception):
    """The inputs lack what an attack needs (e.g. no reference generator); the report says why."""


@dataclass
class AttackInputs:
    """Everything a black-box attacker holds: samples, candidates, and allowed population data.

    ``population`` must be disjoint from the candidates (members and non-members alike); it fits
    the embedding and the reference density. ``reference_generated`` comes from a generator
    trained on data disjoint from the candidates.
    """

    candidates: Array
    generated: Array
    population: Array
    reference_generated: Array | None = None
    embed_dim: int = 32
    density_dim: int = 6
    _embedding: PcaEmbedding | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.candidates = as_rows(self.candidates, "candidates")
        self.generated = as_rows(self.generated, "generated")
        self.population = as_rows(self.population, "population")
        if self.reference_generated is not None:
            self.reference_generated = as_rows(self.reference_generated, "reference_generated")
        widths = {a.shape[1] for a in self._arrays()}
        if len(widths) != 1:
            raise AuditInputError(f"candidates, samples and population differ in size: {widths}")

    def _arrays(self) -> list[Array]:
        arrays = [self.candidates, self.generated, self.population]
        return arrays + ([] if self.reference_generated is None else [self.reference_generated])

    @property
    def embedding(self) -> PcaEmbedding:
        if self._embedding is None:
            dim = min(self.embed_dim, *self.population.shape)
            self._embedding = PcaEmbedding.fit(self.population, dim)
        return self._embedding


def _nn_pixel(x: AttackInputs) -> Scores:
    return nearest_neighbour_scores(x.candidates, x.generated)


def _nn_feature(x: AttackInputs) -> Scores:
    e = x.embedding
    return nearest_neighbour_scores(e(x.candidates), e(x.generated))


def _nn_calibrated(x: AttackInputs) -> Scores:
    if x.reference_generated is None:
        raise AttackSkipped("no reference generator: pass --reference RUN_DIR")
    return calibrated_nearest_neighbour_scores(x.candidates, x.generated, x.reference_generated)


def _monte_carlo(x: AttackInputs) -> Scores:
    e = x.embedding
    return monte_carlo_scores(e(x.candidates), e(x.generated))


def _density_ratio(x: AttackInputs) -> Scores:
    e, k = x.embedding, x.density_dim
    return density_ratio_scores(
        e(x.candidates)[:, :k], e(x.generated)[:, :k], e(x.population)[:, :k]
    )


ATTACKS: dict[str, Callable[[AttackInputs], Scores]] = {
    "nn-pixel": _nn_pixel,
    "nn-feature": _nn_feature,
    "nn-calibrated": _nn_calibrated,
    "monte-carlo": _monte_carlo,
    "density-ratio": _density_ratio,
}
"""Score functions by name; every score reads "higher means more likely a member"."""


def parse_attack_names(spec: str) -> list[str]:
    """Read a comma-separated list ("all" for every attack), rejecting unknown names by name."""
    names = [n.strip() for n in spec.split(",") if n.strip()]
    if names == ["all"]:
        return list(ATTACKS)
    unknown = [n for n in names if n not in ATTACKS]
    if unknown or not names:
        raise AuditInputError(
            f"unknown attack(s) {unknown or spec!r}; choose from {', '.join(ATTACKS)} or 'all'"
        )
    return names
