"""Key generation and distribution: one BFV key pair per round, made by the key generator.

TenSEAL has no threshold decryption, so the key generator (the lowest client id) hands the full
secret context to every key holder and a public one (encrypt only) to the other clients; the
server gets the parameters alone, neither public nor secret key. Before any bundle leaves, a
noise self-test refuses parameters whose sums would come back wrong.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np

from prism_secure.protocols.errors import MessageError
from prism_secure.protocols.he.backend import make_context, ts
from prism_secure.protocols.he.errors import HEParameterError, NoiseBudgetError
from prism_secure.protocols.he.frames import KIND_KEYS, decode_frame, encode_frame
from prism_secure.protocols.he.params import HEParams


@dataclass(frozen=True)
class KeyBundle:
    """What one party receives from the key generator: a key id and a serialized context."""

    key_id: bytes
    context: bytes

    def to_bytes(self, params: HEParams) -> bytes:
        return encode_frame(KIND_KEYS, self.key_id, params.length, 0, [self.context])

    @classmethod
    def from_bytes(cls, data: bytes) -> KeyBundle:
        frame = decode_frame(data, kind=KIND_KEYS)
        if len(frame.parts) != 1:
            raise MessageError("parts", "a key bundle has exactly one context")
        return cls(frame.session, frame.parts[0])


@dataclass
class KeySetup:
    """The key generator's output: one bundle per client (secret or public) and the server's."""

    params: HEParams
    key_id: bytes
    client_bundles: dict[int, bytes]
    server_bundle: bytes
    holders: list[int]
    seconds: float = 0.0


def noise_self_test(ctx: ts.Context, params: HEParams, summands: int, seed: int = 0) -> None:
    """Refuse (:class:`NoiseBudgetError`) unless 2^j >= 2 * summands copies decrypt exactly.

    Doubling one ciphertext adds its noise coherently, the worst case for a sum of fresh
    ciphertexts of equal noise bound; the factor 2 is a safety margin. Needs the secret key.
    """
    t = params.plain_modulus
    rng = np.random.default_rng(seed)
    x = rng.integers(0, t, params.poly_modulus_degree, dtype=np.int64)
    vec = ts.bfv_vector(ctx, x.tolist())
    expected = x.copy()
    for _ in range(max(1, (2 * summands - 1).bit_length())):
        vec = vec + vec
        expected = (expected * 2) % t
    got = np.mod(np.asarray(vec.decrypt(), dtype=np.int64), t)
    if not np.array_equal(got, expected):
        raise NoiseBudgetError(
            f"BFV N={params.poly_modulus_degree}, t={t}, coeff {list(params.coeff_mod_bit_sizes)} "
            f"gives wrong sums for {summands} clients (noise budget exhausted); use a larger "
            "coefficient modulus, e.g. N=8192 with [40, 40]"
        )


def generate_keys(
    params: HEParams,
    clients: list[int],
    *,
    holders: list[int] | None = None,
    self_test: bool = True,
) -> KeySetup:
    """Run by the key generator: fresh keys, the noise self-test, and every party's bundle.

    ``holders`` get the secret context, other clients a public one (encrypt only), the server the
    parameters alone (no public key, no secret key).
    """
    start = time.perf_counter()
    holders = sorted(clients) if holders is None else sorted(holders)
    if not set(holders) <= set(clients) or not holders:
        raise HEParameterError(f"key holders {holders} must be a non-empty subset of the clients")
    ctx = make_context(params)
    if self_test:
        noise_self_test(ctx, params, params.clients)
    key_id = os.urandom(32)
    secret = ctx.serialize(
        save_public_key=True, save_secret_key=True, save_galois_keys=False, save_relin_keys=False
    )
    public = ctx.serialize(
        save_public_key=True, save_secret_key=False, save_galois_keys=False, save_relin_keys=False
    )
    server = ctx.serialize(
        save_public_key=False, save_secret_key=False, save_galois_keys=False, save_relin_keys=False
    )
    bundles = {
        c: KeyBundle(key_id, secret if c in holders else public).to_bytes(params) for c in clients
    }
    return KeySetup(
        params=params,
        key_id=key_id,
        client_bundles=bundles,
        server_bundle=KeyBundle(key_id, server).to_bytes(params),
        holders=holders,
        seconds=time.perf_counter() - start,
    )
