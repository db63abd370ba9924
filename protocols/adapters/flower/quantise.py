"""Updates to one flat unsigned vector for secure summing, and a secure sum back to arrays.

The encoding, its modulus and its error bounds are in :mod:`.quantise_config`. Stochastic
rounding draws from a generator seeded by :mod:`secrets` on every call, never from the run's
seed: whoever knows the seed could otherwise undo the rounding noise.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping

import numpy as np
from pydantic import BaseModel, ConfigDict

from prism_secure.protocols.adapters.flower.errors import AggregateError, UpdateRefused
from prism_secure.protocols.adapters.flower.layout import ArrayLayout, check_update
from prism_secure.protocols.adapters.flower.quantise_config import (
    QuantiseConfig,
    VectorPlan,
    plan_vector,
    uint_dtype,
)


class QuantisedUpdate(BaseModel):
    """One client's encoded update: the input to the secure sum, and what clipping did."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)
    vector: np.ndarray
    plan: VectorPlan
    weight: int
    clipped: dict[str, int]  # entries outside the range, per array

    @property
    def clipped_total(self) -> int:
        return sum(self.clipped.values())


def client_weight(num_examples: object, config: QuantiseConfig, *, client: int) -> int:
    """The weight w a client's update carries: ``num_examples`` in [1, max_weight], or 1."""
    if config.max_weight is None:
        return 1
    if isinstance(num_examples, bool) or not isinstance(num_examples, int | np.integer):
        raise UpdateRefused(
            client, "num_examples", "weight", f"expected an integer, got {num_examples!r}"
        )
    if not 1 <= int(num_examples) <= config.max_weight:
        raise UpdateRefused(
            client,
            "num_examples",
            "weight",
            f"{int(num_examples)} lies outside [1, max_weight = {config.max_weight}]",
        )
    return int(num_examples)


def quantise(
    arrays: Mapping[str, np.ndarray],
    layout: ArrayLayout,
    config: QuantiseConfig,
    *,
    clients: int,
    client: int,
    num_examples: int | None = None,
) -> QuantisedUpdate:
    """Check ``arrays`` against ``layout`` and encode them for a cohort of ``clients``.

    Raises :class:`UpdateRefused` (naming ``client`` and the array) for a missing, unexpected,
    mistyped or misshapen array, NaN or inf, or a weight outside [1, max_weight].
    """
    plan = plan_vector(config, layout, clients)
    values = check_update(arrays, layout, client=client)
    weight = np.uint64(client_weight(num_examples, config, client=client))
    rng = np.random.default_rng(secrets.randbits(128))
    out = np.empty(plan.length, dtype=np.uint64)
    clipped: dict[str, int] = {}
    pos = 0
    for spec, value in zip(layout.arrays, values, strict=True):
        flat = value.reshape(-1)
        if spec.is_float:
            encoded, clipped[spec.name] = _encode_floats(flat, config, rng)
        else:
            encoded, clipped[spec.name] = _encode_integers(flat, config)
        np.multiply(encoded, weight, out=out[pos : pos + spec.size])
        pos += spec.size
    out[plan.weight_index] = weight
    out[plan.weight_index + 1 :] = _digits(sum(clipped.values()), plan)
    return QuantisedUpdate(
        vector=out.astype(uint_dtype(plan.bits)), plan=plan, weight=int(weight), clipped=clipped
    )


def _encode_floats(
    flat: np.ndarray, config: QuantiseConfig, rng: np.random.Generator
) -> tuple[np.ndarray, int]:
    c, levels = config.clip, config.levels
    x = flat.astype(np.float64)
    outside = int(np.count_nonzero(x < -c) + np.count_nonzero(x > c))
    np.clip(x, -c, c, out=x)
    u = (x + c) * (levels / (2.0 * c))
    np.clip(u, 0.0, float(levels), out=u)  # float rounding must not leave the grid
    low = np.floor(u)
    low += rng.random(u.shape) < (u - low)
    return low.astype(np.uint64), outside


def _encode_integers(flat: np.ndarray, config: QuantiseConfig) -> tuple[np.ndarray, int]:
    lo, hi = config.integer_range
    outside = int(np.count_nonzero(flat < lo) + np.count_nonzero(flat > hi))
    info = np.iinfo(flat.dtype)
    inside = np.clip(flat, min(max(lo, info.min), info.max), max(min(hi, info.max), info.min))
    v = np.clip(inside.astype(np.int64), lo, hi)  # now within +-2^62, so exact in int64
    return (v - lo).astype(np.uint64), outside


def _digits(count: int, plan: VectorPlan) -> np.ndarray:
    base = 1 << plan.digit_bits
    return np.array([(count // base**j) % base for j in range(plan.digits)], dtype=np.uint64)


class AggregateUpdate(BaseModel):
    """The de-quantised sum of the survivors' updates.

    ``sums`` holds Σ w x per array (float64 for float arrays, exact int64 for integer ones) in
    the declared shapes; ``total_weight`` is Σ w (the survivor count when unweighted);
    ``clipped`` the number of entries clipped over all survivors.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)
    layout: ArrayLayout
    config: QuantiseConfig
    sums: dict[str, np.ndarray]
    total_weight: int
    clipped: int

    def mean(self) -> dict[str, np.ndarray]:
        """The weighted mean in each array's declared dtype (integers: the nearest, ties up)."""
        out = {}
        for spec in self.layout.arrays:
            total = self.sums[spec.name]
            if spec.is_float:
                out[spec.name] = (total / self.total_weight).astype(spec.np_dtype)
            else:
                quotient, rest = np.divmod(total, self.total_weight)
                out[spec.name] = (quotient + (2 * rest >= self.total_weight)).astype(spec.np_dtype)
        return out

    @property
    def sum_error_bound(self) -> float:
        """Largest error of any float entry of ``sums`` (against the clipped inputs)."""
        return self.config.float_sum_error_bound(self.total_weight)

    def mean_error_bound(self, name: str) -> float:
        """Largest error of the entries of ``mean()[name]`` (0 for integer arrays)."""
        spec = next(a for a in self.layout.arrays if a.name == name)
        return self.config.float_mean_error_bound(spec.np_dtype) if spec.is_float else 0.0


def dequantise_sum(
    total: np.ndarray,
    layout: ArrayLayout,
    config: QuantiseConfig,
    *,
    clients: int,
    survivors: int | None = None,
) -> AggregateUpdate:
    """The arrays behind a secure sum of encoded updates (a cohort of ``clients``).

    ``survivors``, when given, must be consistent with the summed weight. Anything a sum of
    valid encodings cannot be (wrong length, out of range, impossible weight) raises
    :class:`AggregateError`.
    """
    plan = plan_vector(config, layout, clients)
    total = np.asarray(total)
    if total.shape != (plan.length,) or not np.issubdtype(total.dtype, np.integer):
        raise AggregateError(
            "total", f"expected {plan.length} integers, got {total.dtype} {total.shape}"
        )
    if total.size and (int(total.min()) < 0 or int(total.max()) >= 1 << plan.bits):
        raise AggregateError("total", f"entries must lie in [0, 2^{plan.bits})")
    weight = _check_weight(int(total[plan.weight_index]), config, clients, survivors)
    sums: dict[str, np.ndarray] = {}
    pos = 0
    for spec in layout.arrays:
        part = total[pos : pos + spec.size].astype(np.int64)
        pos += spec.size
        span = config.levels if spec.is_float else config.integer_span
        if part.size and int(part.max()) > weight * span:
            raise AggregateError("total", f"{spec.name}: an entry exceeds what Σw clients send")
        if spec.is_float:
            centred = 2 * part - config.levels * weight  # exact: |.| < 2^63
            value = centred.astype(np.float64) * (config.clip / config.levels)
        else:
            value = part + config.integer_range[0] * weight
        sums[spec.name] = value.reshape(spec.shape)
    digits = total[plan.weight_index + 1 :]
    clipped = sum(int(d) << (plan.digit_bits * j) for j, d in enumerate(digits))
    return AggregateUpdate(
        layout=layout, config=config, sums=sums, total_weight=weight, clipped=clipped
    )


def _check_weight(weight: int, config: QuantiseConfig, clients: int, survivors: int | None) -> int:
    most = clients if survivors is None else survivors
    least = 1 if survivors is None else survivors
    if not least <= weight <= most * config.weight_bound:
        raise AggregateError(
            "weight",
            f"summed weight {weight} is impossible for {most} clients "
            f"with weights in [1, {config.weight_bound}]",
        )
    return weight
