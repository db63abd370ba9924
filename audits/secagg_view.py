"""Audit of what the server saw in secure aggregation: each client's masked vector must look
uniform modulo 2^b and carry no trace of the client's own input.

A broken mask (a short PRG, reused seeds, a mask that only covers low bits) shows up as a skewed
histogram of the masked values or as a dependence between masked value and input bit.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pydantic import BaseModel, ConfigDict, computed_field
from scipy.stats import chi2_contingency, chisquare

from prism_secure.audits.errors import AuditInputError

MAX_BIN_BITS = 8
MIN_EXPECTED = 5


class ClientView(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client: str
    length: int
    bins: int
    uniformity_p: float
    independence_p: float
    correlation: float


class SecAggViewAudit(BaseModel):
    """Per-client p-values and the verdict at the family-wise level ``alpha`` (Bonferroni)."""

    model_config = ConfigDict(extra="forbid")

    modulus_bits: int
    alpha: float
    clients: list[ClientView]
    failures: list[str]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def passed(self) -> bool:
        return not self.failures


def _bin_bits(n: int, modulus_bits: int) -> int:
    """Top bits kept per value so that each bin expects at least MIN_EXPECTED entries."""
    bits = min(modulus_bits, MAX_BIN_BITS)
    while bits > 1 and n / 2**bits < MIN_EXPECTED:
        bits -= 1
    return bits


def _as_uint(x: ArrayLike, name: str, modulus_bits: int) -> NDArray[np.uint64]:
    arr = np.asarray(x).reshape(-1)
    if arr.size == 0 or arr.dtype.kind not in "iu":
        raise AuditInputError(f"{name} must be a non-empty integer vector, got {arr.dtype}")
    if arr.min() < 0 or (modulus_bits < 64 and int(arr.max()) >= 2**modulus_bits):
        raise AuditInputError(f"{name} has values outside [0, 2^{modulus_bits})")
    return arr.astype(np.uint64)


def _bin_tests(
    binned: NDArray[np.int64], x_codes: NDArray[np.int64], levels: int, bins: int
) -> tuple[float, float]:
    """p-values of "bins are uniform" and "bin is independent of the input value"."""
    uniform_p = float(chisquare(np.bincount(binned, minlength=bins)).pvalue)
    if levels < 2:
        return uniform_p, 1.0
    table = np.zeros((levels, bins), dtype=np.int64)
    np.add.at(table, (x_codes, binned), 1)
    table = table[:, table.sum(axis=0) > 0]
    independence_p = float(chi2_contingency(table).pvalue) if table.shape[1] > 1 else 0.0
    return uniform_p, independence_p


def audit_client_view(
    client: str, masked: ArrayLike, inputs: ArrayLike, modulus_bits: int
) -> ClientView:
    """Chi-square uniformity of the masked values, and their independence from the input.

    Each test runs on the top and on the bottom bits; the smaller p-value, doubled, is kept.
    """
    y = _as_uint(masked, f"masked vector of client {client}", modulus_bits)
    x = np.asarray(inputs).reshape(-1)
    if x.shape != y.shape:
        raise AuditInputError(f"client {client}: masked vector {y.size} vs input {x.size} entries")
    bits = _bin_bits(y.size, modulus_bits)
    levels, x_codes = np.unique(x, return_inverse=True)
    # High bits catch a biased PRG; low bits catch a mask that leaves the input's bits exposed.
    uniform_ps, independence_ps = [], []
    for binned in (y >> np.uint64(modulus_bits - bits), y & np.uint64(2**bits - 1)):
        u, i = _bin_tests(binned.astype(np.int64), x_codes, levels.size, 2**bits)
        uniform_ps.append(u)
        independence_ps.append(i)
    if levels.size < 2:
        corr = 0.0  # a constant input cannot be correlated with anything
    else:
        corr = float(np.corrcoef(x_codes.astype(float), y.astype(float))[0, 1])
    bins = 2**bits
    uniform_p = min(1.0, 2 * min(uniform_ps))
    independence_p = min(1.0, 2 * min(independence_ps))
    return ClientView(
        client=client,
        length=int(y.size),
        bins=bins,
        uniformity_p=uniform_p,
        independence_p=independence_p,
        correlation=corr if np.isfinite(corr) else 0.0,
    )


def audit_secagg_views(
    masked: Mapping[str, ArrayLike],
    inputs: Mapping[str, ArrayLike],
    modulus_bits: int,
    alpha: float = 0.01,
) -> SecAggViewAudit:
    """Test every client's view; a p-value under alpha / (2 * clients) is a failure."""
    if not 1 <= modulus_bits <= 64:
        raise AuditInputError(f"modulus_bits must lie in [1, 64], got {modulus_bits}")
    if set(masked) != set(inputs):
        raise AuditInputError(
            f"clients with views {sorted(masked)} differ from clients with inputs {sorted(inputs)}"
        )
    if not masked:
        raise AuditInputError("the transcript holds no client views")
    views = [audit_client_view(str(c), masked[c], inputs[c], modulus_bits) for c in masked]
    cut = alpha / (2 * len(views))
    failures = [
        f"client {v.client}: {what} p = {p:.2e} < {cut:.1e}"
        for v in views
        for what, p in (("uniformity", v.uniformity_p), ("independence", v.independence_p))
        if p < cut
    ]
    return SecAggViewAudit(modulus_bits=modulus_bits, alpha=alpha, clients=views, failures=failures)
