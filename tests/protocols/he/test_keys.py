"""Key generation: the server's context can neither encrypt nor decrypt; noise is self-tested."""

from __future__ import annotations

import os

import numpy as np
import pytest

pytest.importorskip("tenseal")

import tenseal as ts  # noqa: E402

from prism_secure.protocols.he import (  # noqa: E402
    HEClient,
    HEParameterError,
    HEParams,
    HEServer,
    KeyBundle,
    NoiseBudgetError,
    generate_keys,
)

DIGEST = os.urandom(32)


def test_server_context_cannot_decrypt_or_encrypt() -> None:
    params = HEParams(length=10, clients=2)
    keys = generate_keys(params, [0, 1])
    server_ctx = ts.context_from(KeyBundle.from_bytes(keys.server_bundle).context)
    assert server_ctx.is_private() is False
    assert server_ctx.is_public()
    with pytest.raises(ValueError):
        ts.bfv_vector(server_ctx, [1, 2, 3])  # no public key either
    client = HEClient(
        0, np.ones(10, np.uint8), params, keys.client_bundles[0], round_index=0, model_digest=DIGEST
    )
    frame = client.upload()
    server = HEServer(
        params,
        keys.server_bundle,
        round_index=0,
        model_digest=DIGEST,
        clients=[0, 1],
        min_survivors=1,
    )
    server.receive(0, frame)
    with pytest.raises(ValueError, match="secret"):
        server.acc[0].decrypt()
    # and the server refuses a context that carries the secret key
    with pytest.raises(HEParameterError, match="secret"):
        HEServer(params, keys.client_bundles[0], round_index=0, model_digest=DIGEST, clients=[0, 1])


def test_noise_budget_too_small_refused() -> None:
    # FACTS: N=4096, t=40961, coeff [30, 30] gave wrong sums; here it fails at 2^8 copies.
    params = HEParams(
        length=4,
        clients=200,
        poly_modulus_degree=4096,
        plain_modulus=40961,
        coeff_mod_bit_sizes=(30, 30),
    )
    with pytest.raises(NoiseBudgetError, match="noise"):
        generate_keys(params, list(range(200)))
