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
    weight = client_weight(num_examples, config, client=client)
    rng = np.random.Generator(np.random.SFC64(secrets.randbits(256)))  # fast; seeded by secrets
    out = np.empty(plan.length, dtype=uint_dtype(plan.bits))  # written once, part by part
    clipped: dict[str, int] = {}
    pos = 0
    for spec, value in zip(layout.arrays, values, strict=True):
        flat, part = value.reshape(-1), out[pos : pos + spec.size]
        if spec.is_float:
            share = weight / config.weight_bound
            clipped[spec.name] = _encode_floats(flat, share, config, rng, part)
        else:
            encoded, clipped[spec.name] = _encode_integers(flat, config)
            part[:] = encoded * np.uint64(weight)
        pos += spec.size
    out[plan.weight_index] = weight
    out[plan.count_index] = 1
    out[plan.count_index + 1 :] = _digits(sum(clipped.values()), plan)
    return QuantisedUpdate(vector=out, plan=plan, weight=weight, clipped=clipped)


def _encode_floats(
    flat: np.ndarray,
    share: float,
    config: QuantiseConfig,
    rng: np.random.Generator,
    out: np.ndarray,
) -> int:
    """Write the grid indices of ``share * clip(x)`` to ``out``; return how many were clipped.

    Stochastic rounding as floor(u + U), U uniform in [0, 1): it rounds up with probability
    frac(u). Float64 adds at most half an ulp of u to the sum, c 2^-52 in value, within the
    slack; everything runs in place on one buffer (fresh memory is slow to fault in).
    """
    c, levels = config.clip, config.levels
    x = flat.astype(np.float64)
    outside = int(np.count_nonzero(x < -c) + np.count_nonzero(x > c))
    np.clip(x, -c, c, out=x)
    x *= share * levels / (2.0 * c)  # u = (share x + c) L / 2c, in two in-place steps
    x += levels / 2.0
    noise = rng.random(x.shape)
    x += noise
    del noise
    np.floor(x, out=x)
    np.clip(x, 0.0, float(levels), out=x)  # float rounding must not leave the grid
    out[:] = x
    return outside


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
    the declared shapes; ``clients`` is how many updates were summed, ``total_weight`` Σ w
    (equal to ``clients`` when unweighted), ``clipped`` the entries clipped over all of them.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)
    layout: ArrayLayout
    config: QuantiseConfig
    sums: dict[str, np.ndarray]
    clients: int
    total_weight: int
    clipped: int

    def mean(self) -> dict[str, np.ndarray]:
        """The weighted mean in each array's declared dtype (integers: the nearest, ties up)."""
        out = {}
        for spec in self.layout.arrays:
            total = self.sums[spec.name]
            if spec.is_float:  # divided in float64, written straight into the declared dtype
                quotient = np.empty(total.shape, dtype=spec.np_dtype)
                out[spec.name] = np.divide(total, self.total_weight, out=quotient, casting="unsafe")
            else:
                quotient, rest = np.divmod(total, self.total_weight)
                out[spec.name] = (quotient + (2 * rest >= self.total_weight)).astype(spec.np_dtype)
        return out

    @property
    def sum_error_bound(self) -> float:
        """Largest error of any float entry of ``sums`` (against the clipped inputs)."""
        return self.config.float_sum_error_bound(self.clients)

    def mean_error_bound(self, name: str) -> float:
        """Largest error of the entries of ``mean()[name]`` (0 for integer arrays)."""
        spec = {a.name: a for a in self.layout.arrays}[name]  # KeyError for unknown names
        if not spec.is_float:
            return 0.0
        return self.config.float_mean_error_bound(self.clients, self.total_weight, spec.np_dtype)


def dequantise_sum(
    total: np.ndarray,
    layout: ArrayLayout,
    config: QuantiseConfig,
    *,
    clients: int,
    survivors: int | None = None,
) -> AggregateUpdate:
    """The arrays behind a secure sum of encoded updates (a cohort of ``clients``).

    ``survivors``, when given, must equal the number of updates summed. Anything a sum of valid
    encodings cannot be (wrong length, out of range, impossible count or weight) raises
    :class:`AggregateError`.
    """
    plan = plan_vector(config, layout, clients)
    total = np.asarray(total)
    if total.shape != (plan.length,) or not np.issubdtype(total.dtype, np.integer):
        raise AggregateError(
            "total", f"expected {plan.length} integers, got {total.dtype} {total.shape}"
        )
    _check_range(total[plan.data :], plan.bits)  # weight, count, digits; arrays below
    count, weight = _check_counts(total, plan, config, survivors)
    sums: dict[str, np.ndarray] = {}
    pos = 0
    for spec in layout.arrays:
        part = total[pos : pos + spec.size]
        pos += spec.size
        most = count * config.levels if spec.is_float else weight * config.integer_span
        if _check_range(part, plan.bits) > most:
            raise AggregateError(
                "total", f"{spec.name}: an entry exceeds what {count} clients send"
            )
        value = (
            _float_sum(part, config, count) if spec.is_float else _integer_sum(part, config, weight)
        )
        sums[spec.name] = value.reshape(spec.shape)
    digits = total[plan.count_index + 1 :]
    clipped = sum(int(d) << (plan.digit_bits * j) for j, d in enumerate(digits))
    return AggregateUpdate(
        layout=layout, config=config, sums=sums, clients=count, total_weight=weight, clipped=clipped
    )


def _check_range(values: np.ndarray, bits: int) -> int:
    """The largest of ``values`` (0 if none), once every one is known to lie in [0, 2^bits)."""
    if not values.size:
        return 0
    high = int(values.max())
    if high >= 1 << bits or (values.dtype.kind == "i" and int(values.min()) < 0):
        raise AggregateError("total", f"entries must lie in [0, 2^{bits})")
    return high


def _float_sum(part: np.ndarray, config: QuantiseConfig, count: int) -> np.ndarray:
    """The float array a slice of the sum stands for: (2 x - levels * count) * clip / levels * w.

    The centring is exact: below 2^52 in place on one float64 copy, above it in int64 first
    (|2 x - levels * count| < 2^63). Then one multiply, so the only rounding is that product's.
    """
    scale = config.clip / config.levels
    offset = config.levels * count
    if 2 * offset < 1 << 52:  # entries are at most offset (checked), so 2 x is exact too
        value = part.astype(np.float64)
        value *= 2
        value -= offset
    else:
        value = (2 * part.astype(np.int64) - offset).astype(np.float64)
    value *= scale * config.weight_bound
    return value


def _integer_sum(part: np.ndarray, config: QuantiseConfig, weight: int) -> np.ndarray:
    """The integer array a slice of the sum stands for: x + low * (total weight)."""
    return part.astype(np.int64) + config.integer_range[0] * weight


def _check_counts(
    total: np.ndarray, plan: VectorPlan, config: QuantiseConfig, survivors: int | None
) -> tuple[int, int]:
    """The number of updates summed and their total weight, if a sum of valid ones can hold them."""
    count, weight = int(total[plan.count_index]), int(total[plan.weight_index])
    if not 1 <= count <= plan.clients or (survivors is not None and count != survivors):
        expected = f"{survivors}" if survivors is not None else f"1 to {plan.clients}"
        raise AggregateError("count", f"{count} updates summed, expected {expected}")
    if not count <= weight <= count * config.weight_bound:
        raise AggregateError(
            "weight",
            f"summed weight {weight} is impossible for {count} clients "
            f"with weights in [1, {config.weight_bound}]",
        )
    return count, weight
