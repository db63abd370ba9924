"""Session parameters both sides agree on before a round, and the modulus they imply.

:func:`choose` (from :mod:`prism_secure.protocols.secagg.planning.finder`) picks the graph, k
and t for a cohort and a dropout rate; the stall and split bounds live in
:mod:`prism_secure.protocols.secagg.planning.stall`.
"""

from __future__ import annotations

import hashlib
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from prism_secure.protocols.secagg.planning.finder import Choice, candidates, choose
from prism_secure.protocols.secagg.planning.security import min_threshold, rule_text
from prism_secure.protocols.secagg.planning.stall import (
    default_neighbours,
    neighbourhood_size,
    split_probability,
    stall_probability,
)

MAX_BITS = 62  # sums must fit the int64 result exactly
MAX_CLIENTS = 1 << 20


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
    ``clients`` (n) is the declared cohort size: no roster may be longer, and it sets the rule
    t must meet. With ``graph="sparse"`` (SecAgg+) each client shares only with its
    ``neighbours`` (k, even) on a Harary graph chosen from the session id, so t <= k + 1.
    Refused: 2t <= n on the full graph, 2t <= k on the sparse one (see
    :mod:`prism_secure.protocols.secagg.planning.security`: a server showing two groups
    different survivor lists would learn an input), unless ``insecure`` says the parties chose
    to run them anyway. ``insecure`` is bound into the session id, so every client sees it and
    can refuse (a client should accept it only by its own local choice, never the server's).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    threshold: int = Field(ge=2)
    bits: int = Field(ge=1, le=MAX_BITS)
    length: int = Field(ge=1, lt=2**40)
    clients: int = Field(ge=2, le=MAX_CLIENTS)
    graph: Literal["full", "sparse"] = "full"
    neighbours: int | None = Field(default=None, ge=2)
    prg: Literal["aes-ctr", "chacha20"] = "aes-ctr"
    aead: Literal["aes-gcm", "chacha20-poly1305"] = "aes-gcm"
    insecure: bool = False

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
        if self.threshold > self.clients:
            raise ValueError(f"threshold {self.threshold} exceeds clients = {self.clients}")
        least = min_threshold(self.graph, self.clients, self.neighbours)
        if self.threshold < least and not self.insecure:
            raise ValueError(
                f"threshold {self.threshold} is insecure: the rule {rule_text(self.graph)} needs "
                f"t >= {least} here; with less, a server that tells some holders a client "
                "survived and others that it dropped gets both of its secrets"
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

    @property
    def degree(self) -> int | None:
        """The graph's k, or None on the full graph."""
        return self.neighbours if self.graph == "sparse" else None

    def digest(self) -> bytes:
        """A canonical hash of the parameters, bound into the session id."""
        # ``insecure`` enters only when set, so secure sessions keep the ids they always had.
        text = self.model_dump_json(exclude=None if self.insecure else {"insecure"})
        return hashlib.sha256(b"prism-secagg/v2/params\x00" + text.encode()).digest()


__all__ = [
    "MAX_BITS",
    "MAX_CLIENTS",
    "Choice",
    "SessionParams",
    "candidates",
    "choose",
    "count_bits",
    "default_neighbours",
    "min_threshold",
    "neighbourhood_size",
    "split_probability",
    "stall_probability",
    "storage_dtype",
]
