"""HE parameters: sums that could wrap, and plain moduli that cannot batch, are refused."""

from __future__ import annotations

import os

import numpy as np
import pytest

pytest.importorskip("tenseal")

from prism_secure.protocols.errors import SecAggError  # noqa: E402
from prism_secure.protocols.he import (  # noqa: E402
    HEParameterError,
    HEParams,
    PlainModulusTooSmallError,
    run_he_sum,
)

DIGEST = os.urandom(32)


def test_plain_modulus_too_small_refused() -> None:
    inputs = {c: np.ones(4, np.uint8) for c in range(3)}
    with pytest.raises(PlainModulusTooSmallError, match="largest possible sum"):
        run_he_sum(inputs, round_index=0, model_digest=DIGEST, max_value=30000)  # 90000 > t
    with pytest.raises(PlainModulusTooSmallError):
        HEParams(length=4, clients=65537)  # 0/1 inputs, but one client too many for t = 65537
    with pytest.raises(HEParameterError, match="prime"):
        HEParams(length=4, clients=2, plain_modulus=65536)
    with pytest.raises(HEParameterError, match="1 mod 2N"):
        HEParams(length=4, clients=2, plain_modulus=40961)  # prime, but 40961 != 1 mod 16384
    assert issubclass(PlainModulusTooSmallError, SecAggError)
