"""How an update maps onto integers mod 2^b: the grid, the ranges, the weights, and their bounds.

Notation: c = ``clip``, q = ``levels_bits``, L = 2^q - 1 grid steps of width Δ = 2c / L; integer
arrays live in [lo, hi] = ``integer_range``, R = hi - lo; W = ``max_weight`` (1 when unweighted);
n = clients in the cohort, m <= n the clients summed (the survivors).

Encoding, per client with weight w in [1, W] (its ``num_examples``; 1 when unweighted):

- a float entry x is clipped to x' in [-c, c] (counted when x was outside) and scaled by its
  weight share, y = (w / W) x' in [-c, c]; u = (y + c) / Δ in [0, L] is stochastically rounded
  to r in {floor u, ceil u} with E[r] = u, and r in [0, L] is sent;
- an integer entry v is clipped to [lo, hi] (counted) and sent exactly as w (v - lo) in [0, W R];
- one entry carries w, one carries 1 (the server learns m, the number summed), and a few carry
  the client's clip count in base-2^g digits.

So the server's sum gives Σ y = Σ w x' / W, Σ w and m, hence the weighted sum and mean, and
nothing per client. Scaling before rounding (not rounding x' and multiplying by w) costs no bits
for the weight and makes the grid serve the weighted value itself.

Error of a float entry: each client's rounding moves its y by less than Δ, so the de-quantised
weighted sum W Σ y is within W m Δ of Σ w x' (``float_sum_error_bound``), and the weighted mean
within W m Δ / Σw: Δ when unweighted, Δ W / w̄ for a mean weight w̄. Float64 arithmetic on both
sides adds less than 2^-46 c per client and unit of W (about 20 roundings of relative size
2^-53 on magnitudes of at most 2c use a fifth of that), and casting the mean to the array's
dtype adds at most c eps(dtype). The rounding errors are independent, zero-mean and each within
an interval of width Δ, so by Hoeffding the sum's error also stays under W Δ sqrt(m ln(2/δ) / 2)
with probability 1 - δ. Integer entries are exact.
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from prism_secure.errors import ConfigError
from prism_secure.protocols.adapters.flower.errors import parse_config
from prism_secure.protocols.adapters.flower.layout import ArrayLayout

MAX_BITS = 62  # what SessionParams accepts: the int64 sum must be exact
FLOAT_SLACK = 2.0**-46  # float64 rounding, encode plus decode, per client and unit W, times c


class QuantiseConfig(BaseModel):
    """The quantisation both sides agree on (send it with the round's layout)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    clip: float = Field(default=1.0, gt=0.0, le=1e300, allow_inf_nan=False)
    levels_bits: int = Field(default=16, ge=1, le=48)
    integer_range: tuple[int, int] = (-(2**31), 2**31 - 1)
    max_weight: int | None = Field(default=None, ge=1, le=2**40)

    @model_validator(mode="after")
    def _check(self) -> QuantiseConfig:
        lo, hi = self.integer_range
        if lo > hi:
            raise ValueError(f"integer_range: lo {lo} exceeds hi {hi}")
        if max(abs(lo), abs(hi)) >= 2**MAX_BITS:
            raise ValueError(f"integer_range: bounds must lie within +-2^{MAX_BITS}")
        return self

    @classmethod
    def parse(cls, values: dict[str, object]) -> QuantiseConfig:
        """Validate, turning pydantic's error into a :class:`ConfigError` naming the field."""
        return parse_config(cls, values, fallback="integer_range")

    @property
    def levels(self) -> int:
        """L: grid steps between -clip and +clip."""
        return (1 << self.levels_bits) - 1

    @property
    def step(self) -> float:
        """Δ: the grid step; every client's scaled float entry moves by less than this."""
        return 2.0 * self.clip / self.levels

    @property
    def weight_bound(self) -> int:
        return 1 if self.max_weight is None else self.max_weight

    @property
    def integer_span(self) -> int:
        return self.integer_range[1] - self.integer_range[0]

    def float_sum_error_bound(self, clients: int) -> float:
        """Largest error of a float entry of the weighted sum of ``clients`` (vs Σ w x')."""
        return self.weight_bound * clients * (self.step + FLOAT_SLACK * self.clip)

    def float_mean_error_bound(
        self, clients: int, total_weight: int, dtype: np.dtype | str = np.float64
    ) -> float:
        """Largest error of a float entry of the weighted mean, cast to ``dtype``."""
        eps = float(np.finfo(np.dtype(dtype)).eps)
        return self.float_sum_error_bound(clients) / total_weight + eps * self.clip

    def likely_sum_error(self, clients: int, delta: float) -> float:
        """Hoeffding: the sum's error on one entry exceeds this with probability below delta."""
        if not 0 < delta < 1:
            raise ConfigError("delta", f"must lie in (0, 1), got {delta}")
        spread = self.step * min(clients, math.sqrt(clients * math.log(2 / delta) / 2))
        return self.weight_bound * (spread + FLOAT_SLACK * self.clip * clients)


class VectorPlan(BaseModel):
    """Where each part of an encoded update sits, and the modulus that holds n of them.

    Layout: ``data`` entries (the arrays, flattened in order), the weight, the count (1), then
    ``digits`` base-2^``digit_bits`` digits of the clip count (least significant first).
    """

    model_config = ConfigDict(frozen=True)
    clients: int
    bits: int
    data: int
    digit_bits: int
    digits: int

    @property
    def length(self) -> int:
        return self.data + 2 + self.digits

    @property
    def weight_index(self) -> int:
        return self.data

    @property
    def count_index(self) -> int:
        return self.data + 1


def plan_vector(config: QuantiseConfig, layout: ArrayLayout, clients: int) -> VectorPlan:
    """The smallest modulus 2^b under which the sum of ``clients`` encoded updates never wraps.

    Proof. Let M = max(L if the layout has floats, W R if it has integers, W). Every entry a
    client sends other than the digits lies in [0, M]: a float entry in [0, L], an integer one in
    [0, W R], the weight in [1, W], the count is 1. So n clients' sums lie in [0, n M], and
    b = bitlen(n M) gives n M <= 2^b - 1. A clip-count digit lies in [0, 2^g - 1] with
    g = b - bitlen(n) >= 1 (b is raised to bitlen(n) + 1 if needed); since n < 2^bitlen(n),
    n (2^g - 1) < 2^b. Every entry of the true sum is therefore below 2^b, and the sum mod 2^b is
    the true sum. Refused (:class:`ConfigError` naming the largest factor) when b would exceed
    62, or when an integer sum could leave int64.
    """
    if isinstance(clients, bool) or not isinstance(clients, int) or clients < 1:
        raise ConfigError("clients", f"must be a positive integer, got {clients!r}")
    w = config.weight_bound
    factors = {"max_weight": w}
    if layout.has_floats:
        factors["levels_bits"] = config.levels
    if layout.has_integers:
        factors["integer_range"] = config.integer_span
        lo, hi = config.integer_range
        if max(abs(lo), abs(hi)) * clients * w >= 2**63:
            raise ConfigError("integer_range", "the weighted integer sum of n clients leaves int64")
    top = clients * max(
        w,
        config.levels if layout.has_floats else 0,
        w * config.integer_span if layout.has_integers else 0,
    )
    bits = max(top.bit_length(), clients.bit_length() + 1)
    if bits > MAX_BITS:
        field = max(factors, key=lambda k: factors[k])
        raise ConfigError(
            field,
            f"the sum of {clients} clients needs {bits} bits (> {MAX_BITS}): "
            f"n * max(levels, max_weight * integer span, max_weight) = {top}; lower {field}",
        )
    digit_bits = bits - clients.bit_length()
    digits = max(1, -(-layout.size.bit_length() // digit_bits))
    return VectorPlan(
        clients=clients, bits=bits, data=layout.size, digit_bits=digit_bits, digits=digits
    )


def finest_levels(
    config: QuantiseConfig, layout: ArrayLayout, clients: int, bits: int = 32
) -> QuantiseConfig:
    """``config`` with the most grid levels whose sum of ``clients`` still fits ``bits`` bits.

    32 bits keeps the protocol's packing a plain word copy; the finest grid below it costs the
    same bytes.
    """
    for q in range(48, 0, -1):
        candidate = config.model_copy(update={"levels_bits": q})
        try:
            if plan_vector(candidate, layout, clients).bits <= bits:
                return candidate
        except ConfigError:
            continue
    raise ConfigError("bits", f"no grid lets {clients} clients fit {bits} bits")


def uint_dtype(bits: int) -> np.dtype:
    """The narrowest unsigned dtype holding ``bits`` bits."""
    for dtype in (np.uint8, np.uint16, np.uint32, np.uint64):
        if bits <= np.dtype(dtype).itemsize * 8:
            return np.dtype(dtype)
    raise ConfigError("bits", f"at most 64, got {bits}")
