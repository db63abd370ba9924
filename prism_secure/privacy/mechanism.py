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
    if not (noise_multiplier >= 0 and math.isfinite(noise_multiplier)):
        raise ValueError(f"noise_multiplier must be finite and >= 0, got {noise_multiplier!r}")
    c = check_clip_norm(sums.clip_norm if sums.clip_norm is not None else float("nan"))
    std = noise_multiplier * joint_sensitivity(c)
    vec = joint_vector(sums)
    noise = torch.randn(
        vec.shape, generator=generator, dtype=torch.float64, device=generator.device
    )
    released = vec + std * noise.cpu()
    dim = sums.feature_sum.shape[0]
    kappa_c = COUNT_WEIGHT * c
    return NoisySums(
        feature_sum=released[:dim],
        square_sum=released[dim : 2 * dim] * c,
        count=float(released[2 * dim]) / kappa_c,
        sigma_feature_sum=std,
        sigma_square_sum=std * c,
        sigma_count=std / kappa_c,
    )


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


def _out(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return t.to(dtype=like.dtype, device=like.device)


def _exact(features: torch.Tensor) -> ReleasedStatistics:
    n = features.shape[0]
    if n < 1:
        raise ValueError("features has no rows")
    sums = moment_sums(features, None)
    mean, var = moments_from_sums(sums.feature_sum, sums.square_sum, n)
    record = ClientPrivacyRecord(
        enabled=False,
        num_records=n,
        released_count=float(n),
        feature_dim=features.shape[1],
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
    return ReleasedStatistics(
        mean=_out(mean, features),
        var=_out(var, features),
        num_records=n,
        released_count=float(n),
        feature_sum=sums.feature_sum,
        square_sum=sums.square_sum,
        record=record,
    )


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
    if not cfg.enabled:
        return _exact(features)
    clip = check_clip_norm(cfg.clip_norm)
    accountant = check_accountant(cfg.accountant)
    target = check_epsilon(cfg.epsilon)
    n = features.shape[0]
    size = n if num_records_bound is None else check_num_records(num_records_bound)
    if n > size:
        raise ValueError(f"client has {n} records, above num_records_bound={size}")
    delta = resolve_delta(cfg.delta, size)
    z = calibrate_noise(target, delta, accountant)
    if generator is None:
        generator, seeded = noise_generator(cfg)
    else:
        seeded = True
    sums = moment_sums(features, clip)
    noisy = gaussian_release(sums, z, generator)
    mean, var = moments_from_sums(
        noisy.feature_sum, noisy.square_sum, noisy.count, noisy.sigma_feature_sum
    )
    record = ClientPrivacyRecord(
        enabled=True,
        num_records=n,
        released_count=noisy.count,
        feature_dim=features.shape[1],
        num_releases=1,
        mechanism=MECHANISM,
        neighbouring=NEIGHBOURING,
        clip_norm=clip,
        count_weight=COUNT_WEIGHT,
        l2_sensitivity=joint_sensitivity(clip),
        noise_multiplier=z,
        sigma_feature_sum=noisy.sigma_feature_sum,
        sigma_square_sum=noisy.sigma_square_sum,
        sigma_count=noisy.sigma_count,
        target_epsilon=target,
        epsilon=spent_epsilon(z, delta, accountant),
        delta=delta,
        accountant=accountant,
        opacus_version=OPACUS_VERSION,
        noise_seeded=seeded,
    )
    return ReleasedStatistics(
        mean=_out(mean, features),
        var=_out(var, features),
        num_records=n,
        released_count=noisy.count,
        feature_sum=noisy.feature_sum,
        square_sum=noisy.square_sum,
        record=record,
    )
