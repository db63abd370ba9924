r"""The Gaussian mechanism on a client's feature moments: the maths, apart from its bookkeeping.

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
would be covered by two releases; partitions here never duplicate records. The unit is a client's
dataset as partitioned: the partition itself is a function of the pooled dataset.

Parameters. The noise multiplier z and delta come from epsilon, the configured delta and a public
bound ``max_records`` on the records per client, never from n itself (a delta or a z that moved
with n would publish it); a client holding more than the bound is truncated to it, since refusing
it would be a data-dependent output too. Orchestration (truncation, noise streams, the ledger
record) lives in :mod:`prism_secure.privacy.release`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from prism_secure.privacy.clipping import ClippedSums
from prism_secure.privacy.parameters import check_clip_norm

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
