"""Session parameters both sides agree on before a round, and the modulus they imply."""

from __future__ import annotations

import hashlib
import math
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_BITS = 62  # sums must fit the int64 result exactly


def count_bits(n: int) -> int:
    """``ceil(log2(n + 1))``: the fewest bits that hold a count of n binary inputs."""
    if n < 1:
        raise ValueError("need at least one client")
    return int(n).bit_length()


def storage_dtype(bits: int) -> np.dtype:
    """The narrowest unsigned dtype of at least ``bits`` bits; its wrap-around is mod 2^w."""
    for dtype in (np.uint8, np.uint16, np.uint32, np.uint64):
        if bits <= np.dtype(dtype).itemsize * 8:
            return np.dtype(dtype)
    raise ValueError(f"bits must be at most 64, got {bits}")


class SessionParams(BaseModel):
    """Public parameters; a client refuses a session whose id does not bind exactly these.

    ``threshold`` (t) is the Shamir threshold and the fewest clients allowed to remain at any phase.
    With ``graph="sparse"`` (SecAgg+) each client shares only with its ``neighbours`` (k, even) on a
    Harary graph chosen from the session id, so t must be at most k + 1.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    threshold: int = Field(ge=2)
    bits: int = Field(ge=1, le=MAX_BITS)
    length: int = Field(ge=1, lt=2**40)
    graph: Literal["full", "sparse"] = "full"
    neighbours: int | None = Field(default=None, ge=2)
    prg: Literal["aes-ctr", "chacha20"] = "aes-ctr"
    aead: Literal["aes-gcm", "chacha20-poly1305"] = "aes-gcm"

    @model_validator(mode="after")
    def _check(self) -> SessionParams:
        if self.graph == "sparse":
            if self.neighbours is None:
                raise ValueError("graph 'sparse' needs neighbours (k)")
            if self.neighbours % 2:
                raise ValueError(f"neighbours must be even (Harary graph), got {self.neighbours}")
            if self.threshold > self.neighbours + 1:
                raise ValueError(
                    f"threshold {self.threshold} exceeds neighbours + 1 = {self.neighbours + 1}: "
                    "no neighbourhood could ever reconstruct a secret"
                )
        return self

    @property
    def dtype(self) -> np.dtype:
        return storage_dtype(self.bits)

    @property
    def modulus_mask(self) -> int:
        return (1 << self.bits) - 1

    @property
    def packed_size(self) -> int:
        return (self.length * self.bits + 7) // 8

    def digest(self) -> bytes:
        """A canonical hash of the parameters, bound into the session id."""
        text = self.model_dump_json()
        return hashlib.sha256(b"prism-secagg/v1/params\x00" + text.encode()).digest()


def default_neighbours(n: int) -> int:
    """SecAgg+ degree k = 2 ceil(log2 n) (Bell et al.: O(log n)); even, as the graph needs."""
    return 2 * max(1, (n - 1).bit_length())


def neighbourhood_size(n: int, graph: str, neighbours: int | None) -> int:
    """Clients in one neighbourhood, the client itself included: n on the full graph, else k + 1."""
    if graph == "full":
        return n
    k = default_neighbours(n) if neighbours is None else neighbours
    return min(n, k + 1)


def stall_probability(n: int, neighbourhood: int, threshold: int, dropout: float) -> float:
    """Upper bound on the chance that a round aborts because some neighbourhood falls below t.

    Each client drops independently with probability ``dropout``; a surviving client needs
    ``threshold - 1`` live neighbours out of ``neighbourhood - 1`` (union bound over the n
    clients). Bell et al. choose k so that this is negligible for the dropout rate expected;
    on the full graph it is the chance that fewer than t of n survive.
    """
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
    if neighbourhood >= n:  # full graph: fewer than t of the n clients survive
        return _binomial_cdf(threshold - 1, n, 1.0 - dropout)
    # a survivor with at most t - 2 live neighbours cannot gather t shares of its own secrets
    return min(1.0, n * _binomial_cdf(threshold - 2, neighbourhood - 1, 1.0 - dropout))


def _binomial_cdf(x: int, trials: int, p: float) -> float:
    """P(Binomial(trials, p) <= x), summed exactly."""
    if x < 0:
        return 0.0
    q = 1.0 - p
    return min(1.0, sum(math.comb(trials, j) * p**j * q ** (trials - j) for j in range(x + 1)))
