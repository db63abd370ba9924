"""Shared pieces of the HE tests: one encrypted session of three clients, and fresh servers."""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
import pytest

pytest.importorskip("tenseal")

from prism_secure.protocols.he import HEClient, HEParams, HEServer, generate_keys  # noqa: E402
from prism_secure.protocols.he.keys import KeySetup  # noqa: E402

DIGEST = os.urandom(32)
N = 8192


@pytest.fixture(scope="module")
def digest() -> bytes:
    """The model digest every session of these tests is bound to."""
    return DIGEST


@pytest.fixture(scope="module")
def session() -> tuple[HEParams, KeySetup, dict[int, bytes]]:
    """Three clients' uploads of a two-ciphertext vector in round 2."""
    d = N + 3  # two ciphertexts
    params = HEParams(length=d, clients=3)
    keys = generate_keys(params, [0, 1, 2])
    rng = np.random.default_rng(5)
    uploads = {
        c: HEClient(
            c,
            rng.integers(0, 2, d, dtype=np.uint8),
            params,
            keys.client_bundles[c],
            round_index=2,
            model_digest=DIGEST,
        ).upload()
        for c in range(3)
    }
    return params, keys, uploads


@pytest.fixture(scope="module")
def fresh_server() -> Callable[..., HEServer]:
    """A server for the session's round (keyword arguments override its defaults)."""

    def make(params: HEParams, keys: KeySetup, **kw: object) -> HEServer:
        kw = {"round_index": 2, "model_digest": DIGEST, **kw}
        return HEServer(params, keys.server_bundle, clients=[0, 1, 2], **kw)  # type: ignore[arg-type]

    return make
