r"""The Gaussian mechanism on a client's feature moments: one joint release per client.

PRISM touches real data only through the mean and per-dimension variance of features of a
client's images, computed once. Releasing those once, privately, makes everything after it
(training, masks, secure aggregation, the server, the final model) post-processing.

Neighbouring relation: **add/remove one record** (Opacus's). The record count n is therefore
private too, so it is released with the moments instead of being assumed public.

Release. Clip each record to :math:`\tilde x_i = x_i \min(1, C/\|x_i\|)`. Record i contributes

.. math:: v_i = (\tilde x_i,\ \tilde x_i \odot \tilde x_i / C,\ \kappa C) \in \mathbb{R}^{2D+1}

and the client releases :math:`V = \sum_i v_i + \mathcal N(0, (z\Delta)^2 I)`: one Gaussian
mechanism, one accountant step, noise multiplier z.

Sensitivity. Adding or removing record i moves V by exactly :math:`v_i`, and with
:math:`r = \|\tilde x_i\| \le C` and :math:`\sum_j x_j^4 \le (\sum_j x_j^2)^2`,

.. math:: \|v_i\|^2 = r^2 + \textstyle\sum_j \tilde x_{ij}^4 / C^2 + \kappa^2 C^2
          \le r^2 + r^4/C^2 + \kappa^2 C^2 \le (2 + \kappa^2) C^2,

so :math:`\Delta = C\sqrt{2+\kappa^2}`. Noise std on the released sums:
:math:`\sigma_1 = z\Delta` on each :math:`\sum \tilde x_{ij}`, :math:`\sigma_2 = z\Delta C` on each
:math:`\sum \tilde x_{ij}^2`, :math:`\sigma_n = z\Delta/(\kappa C)` on n.

Split between the moments. Weighting the squares by w instead of 1/C gives
:math:`\Delta^2 = C^2(1 + \kappa^2 + w^2C^2)`; the product of the two noise stds relative to their
ranges, :math:`(\sigma_1/C)(\sigma_2/C^2) = z^2(1+\kappa^2+u^2)/u` with u = wC, is smallest at
:math:`u = \sqrt{1+\kappa^2} \approx 1`: w = 1/C shares the budget evenly between first and second
moments. :math:`\kappa = 0.2` costs 1% more noise on the moments than not releasing n at all
(:math:`\sqrt{2.04}` against :math:`\sqrt 2`) and gives the count a std of about 7.1 z records.

Post-processing (free): :math:`\hat n = \max(\tilde n, 1)`, mean :math:`= T_1/\hat n`, population
variance :math:`= \max(T_2/\hat n - \text{mean}^2 + (\sigma_1/\hat n)^2, 0)`; the
:math:`\sigma_1^2` term removes the upward bias that noise puts into mean squared.

Per-label release (the conditional model). With K labels the client releases one such vector per
label, :math:`V_k = \sum_{i: y_i = k} v_i`, all K in one Gaussian mechanism. Record i enters only
:math:`V_{y_i}`, so adding or removing it moves the concatenation by exactly :math:`\|v_i\|` and
:math:`\Delta` is unchanged: the same noise multiplier and epsilon, the label protected with the
record. Each label's count comes out of its own block; a client treats a label as held only when
its noisy count clears three count noise stds (post-processing).

Composition. Clients hold disjoint records, so each record is in exactly one release (parallel
composition): the run is (max epsilon, max delta)-DP per record. A record present at two clients
would be covered by two releases; partitions here never duplicate records.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from prism_secure.config import PrivacyConfig
from prism_secure.privacy.accounting import OPACUS_VERSION, calibrate_noise, spent_epsilon
from prism_secure.privacy.clipping import ClippedSums, moment_sums
from prism_secure.privacy.ledger import MECHANISM, NEIGHBOURING, ClientPrivacyRecord
from prism_secure.privacy.noise import noise_generator
from prism_secure.privacy.parameters import (
    check_accountant,
    check_clip_norm,
    check_epsilon,
    check_num_records,
    resolve_delta,
)

#: kappa: weight of the record count in the joint release, relative to the clip norm.
COUNT_WEIGHT = 0.2


def joint_sensitivity(clip_norm: float) -> float:
    """L2 sensitivity of the joint vector (sums, squares / C, kappa C n) under add/remove-one."""
    return check_clip_norm(clip_norm) * math.sqrt(2.0 + COUNT_WEIGHT**2)


def joint_vector(sums: ClippedSums) -> torch.Tensor:
    """The exact vector the mechanism perturbs: (sum x, sum x*x / C, kappa C n), float64."""
    if sums.clip_norm is None:
        raise ValueError("joint_vector needs clipped sums (clip_norm set)")
    c = sums.clip_norm
    count = torch.tensor([COUNT_WEIGHT * c * sums.count], dtype=torch.float64)
    return torch.cat([sums.feature_sum, sums.square_sum / c, count])


@dataclass(frozen=True)
class NoisySums:
    """The released sums and the noise std on each of them."""

    feature_sum: torch.Tensor
    square_sum: torch.Tensor
    count: float
    sigma_feature_sum: float
    sigma_square_sum: float
    sigma_count: float


def gaussian_release(
    sums: ClippedSums, noise_multiplier: float, generator: torch.Generator
) -> NoisySums:
    """Add N(0, (z * Delta)^2) to every coordinate of the joint vector, then unpack it."""
    return gaussian_release_blocks([sums], noise_multiplier, generator)[0]


def gaussian_release_blocks(
    blocks: list[ClippedSums], noise_multiplier: float, generator: torch.Generator
) -> list[NoisySums]:
    """One Gaussian mechanism on the concatenated joint vectors of disjoint record groups.

    A record sits in exactly one block (its label's), so adding or removing it moves one block
    by its ``v_i`` and leaves the others alone: the L2 sensitivity stays ``Delta``.
    """
    if not (noise_multiplier >= 0 and math.isfinite(noise_multiplier)):
        raise ValueError(f"noise_multiplier must be finite and >= 0, got {noise_multiplier!r}")
    if not blocks or len({b.clip_norm for b in blocks}) != 1:
        raise ValueError("blocks must be non-empty and share one clip norm")
    c = check_clip_norm(blocks[0].clip_norm if blocks[0].clip_norm is not None else float("nan"))
    std = noise_multiplier * joint_sensitivity(c)
    vec = torch.cat([joint_vector(b) for b in blocks])
    noise = torch.randn(
        vec.shape, generator=generator, dtype=torch.float64, device=generator.device
    )
    released = vec + std * noise.cpu()
    kappa_c = COUNT_WEIGHT * c
    out, offset = [], 0
    for b in blocks:
        dim = b.feature_sum.shape[0]
        part = released[offset : offset + 2 * dim + 1]
        offset += 2 * dim + 1
        out.append(
            NoisySums(
                feature_sum=part[:dim],
                square_sum=part[dim : 2 * dim] * c,
                count=float(part[2 * dim]) / kappa_c,
                sigma_feature_sum=std,
                sigma_square_sum=std * c,
                sigma_count=std / kappa_c,
            )
        )
    return out


def moments_from_sums(
    feature_sum: torch.Tensor,
    square_sum: torch.Tensor,
    count: float,
    sigma_feature_sum: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and population variance from (noisy) sums: post-processing, clamped to stay usable."""
    n_hat = max(float(count), 1.0)
    mean = feature_sum / n_hat
    var = square_sum / n_hat - mean.square() + (sigma_feature_sum / n_hat) ** 2
    return mean, var.clamp_min(0.0)


@dataclass(frozen=True)
class ReleasedStatistics:
    """A client's released feature statistics, as training should use them."""

    mean: torch.Tensor
    var: torch.Tensor
    num_records: int
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


def _release(
    features: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    cfg: PrivacyConfig,
    generator: torch.Generator | None,
    num_records_bound: int | None,
) -> _Release:
    """Exact sums without DP; else one Gaussian release of all label blocks together."""
    _check_labels(features, labels, num_classes)
    n, dim = features.shape
    if n < 1:
        raise ValueError("features has no rows")
    labels = labels.to(features.device)
    groups = [features[labels == c] for c in range(num_classes)]
    if not cfg.enabled:
        blocks = [
            NoisySums(s.feature_sum, s.square_sum, float(s.count), 0.0, 0.0, 0.0)
            for s in (moment_sums(g, None) for g in groups)
        ]
        record = ClientPrivacyRecord(
            enabled=False,
            num_records=n,
            released_count=float(n),
            feature_dim=dim,
            label_blocks=num_classes,
            num_releases=0,
            mechanism="none",
            neighbouring=None,
            clip_norm=None,
            count_weight=None,
            l2_sensitivity=0.0,
            noise_multiplier=0.0,
            sigma_feature_sum=0.0,
            sigma_square_sum=0.0,
            sigma_count=0.0,
            target_epsilon=None,
            epsilon=math.inf,
            delta=None,
            accountant=None,
            opacus_version=None,
            noise_seeded=False,
        )
        return _Release(blocks, record)
    clip = check_clip_norm(cfg.clip_norm)
    accountant = check_accountant(cfg.accountant)
    target = check_epsilon(cfg.epsilon)
    size = n if num_records_bound is None else check_num_records(num_records_bound)
    if n > size:
        raise ValueError(f"client has {n} records, above num_records_bound={size}")
    delta = resolve_delta(cfg.delta, size)
    z = calibrate_noise(target, delta, accountant)
    if generator is None:
        generator, seeded = noise_generator(cfg)
    else:
        seeded = True
    blocks = gaussian_release_blocks([moment_sums(g, clip) for g in groups], z, generator)
    record = ClientPrivacyRecord(
        enabled=True,
        num_records=n,
        released_count=sum(b.count for b in blocks),
        feature_dim=dim,
        label_blocks=num_classes,
        num_releases=1,
        mechanism=MECHANISM,
        neighbouring=NEIGHBOURING,
        clip_norm=clip,
        count_weight=COUNT_WEIGHT,
        l2_sensitivity=joint_sensitivity(clip),
        noise_multiplier=z,
        sigma_feature_sum=blocks[0].sigma_feature_sum,
        sigma_square_sum=blocks[0].sigma_square_sum,
        sigma_count=blocks[0].sigma_count,
        target_epsilon=target,
        epsilon=spent_epsilon(z, delta, accountant),
        delta=delta,
        accountant=accountant,
        opacus_version=OPACUS_VERSION,
        noise_seeded=seeded,
    )
    return _Release(blocks, record)


def _block_moments(b: NoisySums) -> tuple[torch.Tensor, torch.Tensor]:
    return moments_from_sums(b.feature_sum, b.square_sum, b.count, b.sigma_feature_sum)


@torch.no_grad()
def release_statistics(
    features: torch.Tensor,
    *,
    cfg: PrivacyConfig,
    generator: torch.Generator | None = None,
    num_records_bound: int | None = None,
) -> ReleasedStatistics:
    """Release one client's feature mean and variance, with DP when ``cfg.enabled``.

    ``features`` is (n, D), one row per real record. ``generator`` overrides the noise source
    (it is then recorded as seeded: we cannot vouch for it). ``num_records_bound``, a public
    upper bound on n, makes the default delta and the small-client check independent of the
    private count; without it they use n itself, fine where counts are public (a partition of a
    public dataset by a public seed).
    """
    if features.ndim != 2:
        raise ValueError(f"features must be (n, D), got shape {tuple(features.shape)}")
    labels = torch.zeros(features.shape[0], dtype=torch.long)
    rel = _release(features, labels, 1, cfg, generator, num_records_bound)
    block = rel.blocks[0]
    mean, var = _block_moments(block)
    return ReleasedStatistics(
        mean=_out(mean, features),
        var=_out(var, features),
        num_records=features.shape[0],
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
    num_records_bound: int | None = None,
) -> ReleasedClassStatistics:
    """Release each class's feature mean and variance and its record count, in one mechanism.

    Same guarantee and the same noise multiplier as :func:`release_statistics`: record i only
    enters the block of its own label, so the joint vector's sensitivity is unchanged (the
    record's label is protected with it). The counts come out of the same release.
    """
    rel = _release(features, labels, num_classes, cfg, generator, num_records_bound)
    moments = [_block_moments(b) for b in rel.blocks]
    return ReleasedClassStatistics(
        mean=_out(torch.stack([m for m, _ in moments]), features),
        var=_out(torch.stack([v for _, v in moments]), features),
        released_counts=torch.tensor([b.count for b in rel.blocks], dtype=torch.float64),
        record=rel.record,
    )
