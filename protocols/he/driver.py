"""Run one homomorphic secure sum in-process: key setup, uploads, aggregation, one decryption.

Every byte each party sends or receives is counted, key bundles included (as if relayed through
the server end to end encrypted, whose overhead is not counted). The dropout phases of this
path are its own, :func:`phase_names`: a client that drops at ``"upload"`` never sends its
ciphertext and is missing from the sum; one that drops at ``"decrypt"`` is still counted (its
ciphertext is in the aggregate) but can no longer decrypt.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from prism_secure.protocols.errors import AbortedError
from prism_secure.protocols.he.client import HEClient
from prism_secure.protocols.he.errors import HEInputError, HEParameterError
from prism_secure.protocols.he.keys import KeySetup, generate_keys
from prism_secure.protocols.he.params import HEParams
from prism_secure.protocols.he.server import HEServer
from prism_secure.protocols.inprocess import Meter, check_dropouts, median_or_zero
from prism_secure.protocols.result import HEDetails, SecureSumResult

# Phases at which a client can vanish on this path, in order (keys of ``dropouts``).
HE_PHASES = ("upload", "decrypt")


def phase_names() -> list[str]:
    """Phases at which a client can vanish, in protocol order (keys of ``dropouts``)."""
    return list(HE_PHASES)


def run_he_sum(
    inputs: dict[int, np.ndarray],
    *,
    round_index: int,
    model_digest: bytes,
    dropouts: dict[int, str] | None = None,
    poly_modulus_degree: int = 8192,
    plain_modulus: int = 65537,
    coeff_mod_bit_sizes: tuple[int, ...] = (40, 40),
    max_value: int = 1,
    min_survivors: int = 2,
    key_holders: int | None = None,
    keys: KeySetup | None = None,
) -> SecureSumResult:
    """Sum ``inputs`` (client id -> integers in ``[0, max_value]``) under BFV; see the package doc.

    ``dropouts`` maps a client to the phase (:func:`phase_names`) whose message it never sends.
    ``key_holders=k`` gives the secret key to the k lowest ids only (default: every client).
    Fewer than ``min_survivors`` uploads, or no key holder left, raise :class:`AbortedError`.
    ``keys``: a :class:`KeySetup` from :func:`generate_keys` for exactly these parameters and
    clients (to time key generation apart); its distribution is still counted in the bytes.
    The result's ``he`` part holds what only this path has.
    """
    params = params_for(inputs, max_value, poly_modulus_degree, plain_modulus, coeff_mod_bit_sizes)
    ids = sorted(int(c) for c in inputs)
    drops = check_dropouts(dropouts, inputs, HE_PHASES)
    if key_holders is not None and key_holders < 1:
        raise HEParameterError(f"key_holders must be at least 1, got {key_holders}")
    if keys is not None and (keys.params != params or sorted(keys.client_bundles) != ids):
        raise HEParameterError("keys were generated for other parameters or another cohort")
    meter = Meter(ids)
    holders = ids if key_holders is None else ids[:key_holders]
    setup = keys if keys is not None else generate_keys(params, ids, holders=holders)
    distribute_keys(setup, meter, ids)
    server = HEServer(
        params,
        setup.server_bundle,
        round_index=round_index,
        model_digest=model_digest,
        clients=ids,
        min_survivors=min_survivors,
    )
    up = Uploads(setup, server, meter, round_index, model_digest)
    for c in ids:
        up.join(c, inputs[c], uploads=drops.get(c) != "upload")
    decryption = decrypt(server, up.clients, [c for c in setup.holders if c not in drops], meter)
    stayed = [c for c in ids if c not in drops] or ids
    median, most = meter.client_seconds(stayed)
    return SecureSumResult(
        total=decryption.total,
        survivors=sorted(server.survivors),
        bytes_up_per_client=meter.up,
        bytes_down_per_client=meter.down,
        client_seconds=median,
        client_seconds_max=most,
        client_protect_seconds=median_or_zero(up.encrypt_seconds.values()),
        server_seconds=server.seconds,
        he=details(setup, decryption, up.sizes, ids),
    )


def params_for(
    inputs: dict[int, np.ndarray],
    max_value: int,
    poly_modulus_degree: int,
    plain_modulus: int,
    coeff_mod_bit_sizes: tuple[int, ...],
) -> HEParams:
    """The parameters for these inputs: one length, a cohort of ``len(inputs)``."""
    if not inputs:
        raise HEInputError("inputs is empty")
    lengths = {np.asarray(v).shape[0] if np.asarray(v).ndim else -1 for v in inputs.values()}
    if len(lengths) != 1:
        raise HEInputError(f"inputs must have equal lengths, got {sorted(lengths)}")
    return HEParams(
        length=lengths.pop(),
        clients=len(inputs),
        max_value=max_value,
        poly_modulus_degree=poly_modulus_degree,
        plain_modulus=plain_modulus,
        coeff_mod_bit_sizes=tuple(coeff_mod_bit_sizes),
    )


def distribute_keys(setup: KeySetup, meter: Meter, ids: list[int]) -> None:
    """The key generator's compute and uploads (one bundle per party), each client's download."""
    generator = ids[0]
    meter.cpu[generator] += setup.seconds
    for c in ids:
        if c != generator:
            meter.sent(generator, setup.client_bundles[c])
            meter.received(c, setup.client_bundles[c])
    meter.sent(generator, setup.server_bundle)


class Uploads:
    """The round's clients, each built from its key bundle, and the uploads of those that stay."""

    def __init__(
        self,
        setup: KeySetup,
        server: HEServer,
        meter: Meter,
        round_index: int,
        model_digest: bytes,
    ) -> None:
        self.setup, self.server, self.meter = setup, server, meter
        self.session = {"round_index": round_index, "model_digest": model_digest}
        self.clients: dict[int, HEClient] = {}
        self.encrypt_seconds: dict[int, float] = {}
        self.sizes: dict[int, int] = {}  # each uploader's frame, in bytes

    def join(self, cid: int, vector: np.ndarray, *, uploads: bool) -> None:
        """Client ``cid`` loads its bundle and, unless it drops first, uploads its ciphertexts."""
        bundle = self.setup.client_bundles[cid]
        with self.meter.compute(cid):
            client = HEClient(cid, vector, self.setup.params, bundle, **self.session)
        self.clients[cid] = client
        if uploads:
            data = client.upload()
            self.encrypt_seconds[cid] = client.encrypt_seconds
            self.meter.cpu[cid] += client.encrypt_seconds
            self.sizes[cid] = len(data)
            self.server.receive(cid, self.meter.sent(cid, data))


@dataclass(frozen=True)
class Decryption:
    """Who decrypted the aggregate, the bytes both ways, the time it took, and the counts."""

    decryptor: int
    aggregate: bytes
    result: bytes
    seconds: float
    total: np.ndarray


def decrypt(
    server: HEServer, clients: dict[int, HEClient], present: list[int], meter: Meter
) -> Decryption:
    """The server's aggregate to the first key holder still present, its counts back."""
    aggregate = server.aggregate()
    if not present:
        raise AbortedError("no key holder is left to decrypt the aggregate", phase="decrypt")
    decryptor = present[0]
    meter.received(decryptor, aggregate)
    start = time.perf_counter()
    result = clients[decryptor].decrypt(aggregate)
    seconds = time.perf_counter() - start
    meter.cpu[decryptor] += seconds
    total = server.receive_result(meter.sent(decryptor, result))
    return Decryption(decryptor, aggregate, result, seconds, total)


def details(
    setup: KeySetup, decryption: Decryption, uploads: dict[int, int], ids: list[int]
) -> HEDetails:
    generator, params = ids[0], setup.params
    return HEDetails(
        poly_modulus_degree=params.poly_modulus_degree,
        plain_modulus=params.plain_modulus,
        key_generator=generator,
        decryptor=decryption.decryptor,
        key_holders=setup.holders,
        key_bundle_bytes={c: 0 if c == generator else len(setup.client_bundles[c]) for c in ids},
        upload_bytes=uploads,
        aggregate_bytes=len(decryption.aggregate),
        result_bytes=len(decryption.result),
        server_bundle_bytes=len(setup.server_bundle),
        ciphertexts_per_client=params.chunks,
        keygen_seconds=setup.seconds,
        decrypt_seconds=decryption.seconds,
    )
