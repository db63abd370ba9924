"""What every secure sum returns: one result type, whichever protocol computed the sum.

The fields every path has mean the same thing on every path. What only one path has sits in its
own typed part: :class:`SecAggDetails` (``secagg``) or :class:`HEDetails` (``he``); exactly one
of the two is set.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, model_validator


class SecAggDetails(BaseModel):
    """Pairwise masking: the modulus, and the parameters the round ran with."""

    model_config = ConfigDict(frozen=True)
    bits: int  # the sum, and every masked vector in ``transcript``, is mod 2^bits
    threshold: int
    graph: str
    neighbours: int | None  # k on the SecAgg+ graph, None on the full graph


class HEDetails(BaseModel):
    """Homomorphic encryption (TenSEAL BFV): keys, parameters and the traffic of each step.

    The per-client byte counts of the result include the key bundles (the key generator uploads
    one per party, each client downloads its own, as if relayed through the server end to end
    encrypted; that encryption's overhead is not counted), the upload frame, and for the
    decryptor the aggregate (down) and the counts (up).
    """

    model_config = ConfigDict(frozen=True)
    poly_modulus_degree: int
    plain_modulus: int  # the sum is exact below it, and computed mod it
    key_generator: int
    decryptor: int
    key_holders: list[int]
    key_bundle_bytes: dict[int, int]  # received in key distribution (0 for the key generator)
    upload_bytes: dict[int, int]  # each uploader's ciphertext frame
    aggregate_bytes: int  # the summed ciphertexts sent to the decryptor
    result_bytes: int  # the plaintext counts the decryptor sends to the server
    server_bundle_bytes: int
    ciphertexts_per_client: int
    keygen_seconds: float
    decrypt_seconds: float


class SecureSumResult(BaseModel):
    """The exact sum over the survivors, who they are, and what it cost.

    Times are medians over the clients that stayed unless said otherwise; ``transcript`` is what
    the server received from each client, if it was recorded (SecAgg: the masked vectors).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)
    total: np.ndarray  # int64
    survivors: list[int]
    bytes_up_per_client: dict[int, int]
    bytes_down_per_client: dict[int, int]
    client_seconds: float  # each client's total compute
    client_seconds_max: float
    client_protect_seconds: float  # protecting the input: masking it, or encrypting it
    server_seconds: float
    transcript: dict[int, np.ndarray] | None = None
    client_aborts: dict[int, str] = {}  # clients that refused a message, and why
    secagg: SecAggDetails | None = None
    he: HEDetails | None = None

    @model_validator(mode="after")
    def _one_path(self) -> SecureSumResult:
        if (self.secagg is None) == (self.he is None):
            raise ValueError("a result has exactly one of secagg and he")
        return self
