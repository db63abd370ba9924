"""Attacks on synthetic generators whose leak is planted: copies of members among the samples."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prism_secure.audits.attacks import (
    ATTACKS,
    AttackInputs,
    AttackSkipped,
    PcaEmbedding,
    calibrated_nearest_neighbour_scores,
    monte_carlo_scores,
    nearest_neighbour_scores,
    parse_attack_names,
)
from prism_secure.audits.errors import AuditInputError
from prism_secure.audits.metrics import auc_score, bootstrap_auc_ci

DIM, LATENT = 64, 8


class World:
    """Records on a noisy 8-dimensional plane in 64 dimensions; members, non-members, population."""

    def __init__(self, seed: int, n: int = 300) -> None:
        self.rng = np.random.default_rng(seed)
        self.basis = self.rng.normal(size=(LATENT, DIM)).astype(np.float32)
        self.members, self.nonmembers = self.draw(n), self.draw(n)
        self.population = self.draw(1500)
        self.labels = np.r_[np.ones(n), np.zeros(n)]

    def draw(self, n: int) -> np.ndarray:
        z = self.rng.normal(size=(n, LATENT)).astype(np.float32)
        return z @ self.basis + 0.3 * self.rng.normal(size=(n, DIM)).astype(np.float32)

    @property
    def candidates(self) -> np.ndarray:
        return np.concatenate([self.members, self.nonmembers])

    def generator(self, n: int, copy_fraction: float, noise: float = 0.3) -> np.ndarray:
        """Fresh draws, except that a fraction are noisy copies of random members."""
        n_copy = int(n * copy_fraction)
        picks = self.members[self.rng.integers(0, len(self.members), n_copy)]
        copies = picks + noise * self.rng.normal(size=picks.shape).astype(np.float32)
        return np.concatenate([self.draw(n - n_copy), copies])


@pytest.fixture(scope="module")
def world() -> World:
    return World(seed=0)


def test_leaky_generator_is_caught_by_every_attack(world: World) -> None:
    inputs = AttackInputs(
        candidates=world.candidates,
        generated=world.generator(3000, copy_fraction=0.3),
        population=world.population,
        reference_generated=world.draw(3000),
        embed_dim=8,
    )
    for name, attack in ATTACKS.items():
        scores = attack(inputs)
        assert scores.shape == (len(world.labels),)
        low, _ = bootstrap_auc_ci(scores, world.labels, n_boot=200)
        assert low > 0.55, f"{name} missed a planted leak (AUC CI low {low:.3f})"


def test_private_generator_gives_chance_level(world: World) -> None:
    inputs = AttackInputs(
        candidates=world.candidates,
        generated=world.draw(3000),
        population=world.population,
        reference_generated=world.draw(3000),
        embed_dim=8,
    )
    for name, attack in ATTACKS.items():
        low, high = bootstrap_auc_ci(attack(inputs), world.labels, n_boot=200)
        assert low < 0.5 < high, f"{name} sees a leak that is not there ({low:.3f}, {high:.3f})"


def test_exact_copies_give_perfect_nearest_neighbour_scores(world: World) -> None:
    generated = np.concatenate([world.members, world.draw(500)])
    scores = nearest_neighbour_scores(world.candidates, generated)
    assert np.all(scores[: len(world.members)] == 0)
    assert auc_score(scores, world.labels) == 1.0


def test_calibration_removes_typicality() -> None:
    """Records near the mode look like members to plain NN; calibration cancels that."""
    rng = np.random.default_rng(1)
    candidates = np.r_[rng.normal(0, 0.5, (200, 4)), rng.normal(0, 2.0, (200, 4))]
    labels = np.r_[np.zeros(200), np.ones(200)]  # the "members" are atypical and not leaked
    generated, reference = rng.normal(0, 1, (2000, 4)), rng.normal(0, 1, (2000, 4))
    assert auc_score(nearest_neighbour_scores(candidates, generated), labels) < 0.2
    calibrated = calibrated_nearest_neighbour_scores(candidates, generated, reference)
    assert 0.4 < auc_score(calibrated, labels) < 0.6


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 40), st.integers(1, 60), st.integers(0, 2**32 - 1))
def test_monte_carlo_is_a_fraction_and_monotone_in_radius(nc: int, ng: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    c, g = rng.normal(size=(nc, 3)), rng.normal(size=(ng, 3))
    small = monte_carlo_scores(c, g, radius=0.5)
    large = monte_carlo_scores(c, g, radius=1.5)
    assert np.all((small >= 0) & (small <= 1)) and np.all(large >= small)
    assert np.all(monte_carlo_scores(c, g, radius=1e9) == 1.0)


def test_pca_embedding_recovers_the_plane(world: World) -> None:
    emb = PcaEmbedding.fit(world.population, LATENT)
    x = world.draw(200)
    back = emb(x) @ emb.components + emb.mean
    assert np.mean((x - back) ** 2) < 0.1 < np.mean(x**2)


def test_bad_inputs_and_missing_reference_are_named(world: World) -> None:
    with pytest.raises(AuditInputError, match="differ in size"):
        AttackInputs(world.candidates, world.draw(10)[:, :10], world.population)
    with pytest.raises(AuditInputError, match="NaN"):
        nearest_neighbour_scores(np.full((2, 3), np.nan), np.zeros((2, 3)))
    inputs = AttackInputs(world.candidates, world.draw(100), world.population)
    with pytest.raises(AttackSkipped, match="reference"):
        ATTACKS["nn-calibrated"](inputs)
    assert parse_attack_names("all") == list(ATTACKS)
    assert parse_attack_names("nn-pixel, monte-carlo") == ["nn-pixel", "monte-carlo"]
    with pytest.raises(AuditInputError, match="nn-pxl"):
        parse_attack_names("nn-pxl")


def test_the_light_list_of_names_is_the_registry_in_order() -> None:
    """The CLI's help lists the attacks from a module that loads no numpy or torch."""
    from prism_secure.audits.attack_names import ATTACK_NAMES

    assert tuple(ATTACKS) == ATTACK_NAMES
