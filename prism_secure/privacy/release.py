"""One client's release: truncation to the public bound, the noise stream, the ledger record.

The arithmetic is :mod:`prism_secure.privacy.gaussian`'s; this module only decides what goes in
(at most ``max_records`` rows, each label's rows in its own block), where the noise comes from
(the client's own stream) and what the ledger says about it. Nothing here reads the true record
count into a parameter: delta and the noise multiplier come from the configuration and the bound.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from prism_secure.config import PrivacyConfig
from prism_secure.privacy.accounting import calibrate_noise
from prism_secure.privacy.clipping import moment_sums
from prism_secure.privacy.gaussian import NoisySums, gaussian_release_blocks, moments_from_sums
from prism_secure.privacy.ledger import ClientPrivacyRecord, ReleaseParameters, client_record
from prism_secure.privacy.noise import noise_generator
from prism_secure.privacy.parameters import (
    check_accountant,
    check_clip_norm,
    check_epsilon,
    check_max_records,
    resolve_delta,
)


@dataclass(frozen=True)
class ReleasedStatistics:
    """A client's released feature statistics, as training should use them."""

    mean: torch.Tensor
    var: torch.Tensor
    released_count: float
    feature_sum: torch.Tensor
    square_sum: torch.Tensor
    record: ClientPrivacyRecord


@dataclass(frozen=True)
class ReleasedClassStatistics:
    """Per-label released statistics: row c of each tensor is class c's."""

    mean: torch.Tensor  # (K, D)
    var: torch.Tensor  # (K, D)
    released_counts: torch.Tensor  # (K,) float64, noisy under DP
    record: ClientPrivacyRecord

    @property
    def sigma_count(self) -> float:
        return self.record.sigma_count

    def class_weights(self, min_count: float = 2.0) -> torch.Tensor:
        """Each class's share of the client's records; 0 for classes it (likely) lacks.

        A class counts as held when its released count reaches ``min_count`` and three noise
        stds of the count, so noise alone rarely invents a class (post-processing, free).
        """
        floor = max(float(min_count), 3.0 * self.sigma_count)
        kept = torch.where(self.released_counts >= floor, self.released_counts, 0.0)
        if float(kept.sum()) <= 0:  # nothing clears the floor: fall back to the largest count
            kept = torch.zeros_like(kept)
            kept[int(torch.argmax(self.released_counts))] = 1.0
        return (kept / kept.sum()).to(self.mean.dtype)


def _out(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return t.to(dtype=like.dtype, device=like.device)


@dataclass(frozen=True)
class _Release:
    blocks: list[NoisySums]
    record: ClientPrivacyRecord


def _check_labels(features: torch.Tensor, labels: torch.Tensor, num_classes: int) -> None:
    if features.ndim != 2:
        raise ValueError(f"features must be (n, D), got shape {tuple(features.shape)}")
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    if labels.shape != (features.shape[0],):
        raise ValueError(f"need one label per feature row, got shape {tuple(labels.shape)}")
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes})")


def _parameters(
    cfg: PrivacyConfig, max_records: int | None, seeded: bool, releases: int
) -> ReleaseParameters:
    """Every public parameter of a DP release, validated; none depends on the data."""
    bound = check_max_records(max_records if max_records is not None else cfg.max_records)
    accountant = check_accountant(cfg.accountant)
    target = check_epsilon(cfg.epsilon)
    delta = resolve_delta(cfg.delta, bound)
    return ReleaseParameters(
        clip_norm=check_clip_norm(cfg.clip_norm),
        noise_multiplier=calibrate_noise(target, delta, accountant),
        delta=delta,
        target_epsilon=target,
        accountant=accountant,
        max_records=bound,
        noise_seeded=seeded,
        releases=releases,
    )


def check_release_parameters(
    cfg: PrivacyConfig, max_records: int | None
) -> ReleaseParameters | None:
    """Validate the release's public parameters before any record is read; None without DP."""
    if not cfg.enabled:
        return None
    return _parameters(cfg, max_records, cfg.noise_seed is not None, 1)


def _release(
    features: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    cfg: PrivacyConfig,
    *,
    generator: torch.Generator | None,
    max_records: int | None,
    stream: int,
    releases: int,
) -> _Release:
    """Exact sums without DP; else one Gaussian release of all label blocks together."""
    _check_labels(features, labels, num_classes)
    dim = features.shape[1]
    if not cfg.enabled:
        groups = [features[labels.to(features.device) == c] for c in range(num_classes)]
        blocks = [
            NoisySums(s.feature_sum, s.square_sum, float(s.count), 0.0, 0.0, 0.0)
            for s in (moment_sums(g, None) for g in groups)
        ]
        return _Release(blocks, client_record(cfg, dim, num_classes, None))
    seeded = generator is not None or cfg.noise_seed is not None
    params = _parameters(cfg, max_records, seeded, releases)
    # Above the public bound the client contributes its first max_records rows: a refusal
    # would itself depend on the data. Callers shuffle first, with a seed, if order matters.
    features, labels = features[: params.max_records], labels[: params.max_records]
    labels = labels.to(features.device)
    if generator is None:
        generator, _ = noise_generator(cfg, stream)
    sums = [moment_sums(features[labels == c], params.clip_norm) for c in range(num_classes)]
    blocks = gaussian_release_blocks(sums, params.noise_multiplier, generator)
    return _Release(blocks, client_record(cfg, dim, num_classes, params))


def _block_moments(b: NoisySums) -> tuple[torch.Tensor, torch.Tensor]:
    return moments_from_sums(b.feature_sum, b.square_sum, b.count, b.sigma_feature_sum)


@torch.no_grad()
def release_statistics(
    features: torch.Tensor,
    *,
    cfg: PrivacyConfig,
    generator: torch.Generator | None = None,
    max_records: int | None = None,
    stream: int = 0,
    releases: int = 1,
) -> ReleasedStatistics:
    """Release one client's feature mean and variance, with DP when ``cfg.enabled``.

    ``features`` is (n, D), one row per real record. ``max_records`` is the public bound on n
    (else ``cfg.max_records``): it sets delta, and rows beyond it are left out. ``stream`` names
    the client's own noise stream under a ``noise_seed``. ``generator`` overrides the noise
    source (it is then recorded as seeded: we cannot vouch for it). ``releases`` counts this
    client's releases so far, this one included: the ledger composes them.
    """
    if features.ndim != 2:
        raise ValueError(f"features must be (n, D), got shape {tuple(features.shape)}")
    labels = torch.zeros(features.shape[0], dtype=torch.long)
    rel = _release(
        features,
        labels,
        1,
        cfg,
        generator=generator,
        max_records=max_records,
        stream=stream,
        releases=releases,
    )
    block = rel.blocks[0]
    mean, var = _block_moments(block)
    return ReleasedStatistics(
        mean=_out(mean, features),
        var=_out(var, features),
        released_count=block.count,
        feature_sum=block.feature_sum,
        square_sum=block.square_sum,
        record=rel.record,
    )


@torch.no_grad()
def release_class_statistics(
    features: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    *,
    cfg: PrivacyConfig,
    generator: torch.Generator | None = None,
    max_records: int | None = None,
    stream: int = 0,
    releases: int = 1,
) -> ReleasedClassStatistics:
    """Release each class's feature mean and variance and its record count, in one mechanism.

    Same guarantee and the same noise multiplier as :func:`release_statistics`: record i only
    enters the block of its own label, so the joint vector's sensitivity is unchanged (the
    record's label is protected with it). The counts come out of the same release.
    """
    rel = _release(
        features,
        labels,
        num_classes,
        cfg,
        generator=generator,
        max_records=max_records,
        stream=stream,
        releases=releases,
    )
    moments = [_block_moments(b) for b in rel.blocks]
    return ReleasedClassStatistics(
        mean=_out(torch.stack([m for m, _ in moments]), features),
        var=_out(torch.stack([v for _, v in moments]), features),
        released_counts=torch.tensor([b.count for b in rel.blocks], dtype=torch.float64),
        record=rel.record,
    )
