"""One client of the homomorphic path: encrypts its vector; a key holder also decrypts the sum.

The vector is checked (1-D, the agreed length, integers in ``[0, max_value]``) and encrypted
chunk by chunk, N slots per ciphertext, all chunks in one frame. The decryptor checks the
aggregate's frame, decrypts it and range-checks the counts before sending them to the server.
"""

from __future__ import annotations

import time

import numpy as np

from prism_secure.protocols.errors import MessageError
from prism_secure.protocols.he.backend import load_context, load_vector, ts
from prism_secure.protocols.he.errors import HEDecryptionError, HEInputError
from prism_secure.protocols.he.frames import (
    KIND_AGGREGATE,
    KIND_RESULT,
    KIND_UPLOAD,
    decode_frame,
    encode_frame,
)
from prism_secure.protocols.he.keys import KeyBundle
from prism_secure.protocols.he.params import HEParams, session_id


class HEClient:
    """One client: encrypts its vector chunk by chunk; a key holder can also decrypt the sum."""

    def __init__(
        self,
        cid: int,
        vector: np.ndarray,
        params: HEParams,
        bundle: bytes,
        *,
        round_index: int,
        model_digest: bytes,
    ) -> None:
        self.cid, self.params = cid, params
        self.vector = check_input(vector, params, cid)
        keys = KeyBundle.from_bytes(bundle)
        self.ctx = load_context(keys.context, "context")
        self.session = session_id(
            params, round_index=round_index, model_digest=model_digest, key_id=keys.key_id
        )
        self.encrypt_seconds = 0.0

    @property
    def is_key_holder(self) -> bool:
        return bool(self.ctx.is_private())

    def upload(self) -> bytes:
        """The encrypted vector as one frame: all chunks or none, never half a client in a sum."""
        start = time.perf_counter()
        n_deg, p = self.params.poly_modulus_degree, self.params
        parts = [
            ts.bfv_vector(self.ctx, self.vector[i * n_deg : (i + 1) * n_deg]).serialize()
            for i in range(p.chunks)
        ]
        frame = encode_frame(KIND_UPLOAD, self.session, p.length, 1, parts)
        self.encrypt_seconds = time.perf_counter() - start
        return frame

    def decrypt(self, aggregate: bytes) -> bytes:
        """Decrypt the server's aggregate and return the plaintext counts frame for the server."""
        if not self.is_key_holder:
            raise HEDecryptionError(f"client {self.cid} holds no secret key")
        p = self.params
        frame = decode_frame(aggregate, kind=KIND_AGGREGATE, session=self.session)
        if frame.length != p.length or len(frame.parts) != p.chunks:
            raise MessageError("parts", f"aggregate has {len(frame.parts)} parts, need {p.chunks}")
        if not 1 <= frame.summands <= p.clients:
            raise MessageError("summands", f"{frame.summands} outside 1..{p.clients}")
        values = np.empty(p.length, dtype=np.int64)
        n_deg = p.poly_modulus_degree
        for i, part in enumerate(frame.parts):
            vec = load_vector(self.ctx, part, p.slots(i), f"parts[{i}]")
            values[i * n_deg : i * n_deg + p.slots(i)] = vec.decrypt()
        values = np.mod(values, p.plain_modulus)  # SEAL decodes to the centred range
        bound = frame.summands * p.max_value
        if values.size and int(values.max()) > bound:
            raise HEDecryptionError(
                f"decrypted counts exceed {frame.summands} x {p.max_value} = {bound}: noise "
                "overflow, ciphertexts under other keys, or an altered aggregate"
            )
        data = values.astype(p.result_dtype).tobytes()
        return encode_frame(KIND_RESULT, self.session, p.length, frame.summands, [data])


def check_input(vector: np.ndarray, params: HEParams, cid: int) -> np.ndarray:
    """A 1-D int64 copy of ``vector`` after checking length, dtype and range."""
    v = np.asarray(vector)
    if v.ndim != 1 or v.shape[0] != params.length:
        raise HEInputError(f"client {cid}: vector shape {v.shape}, expected ({params.length},)")
    if not (np.issubdtype(v.dtype, np.integer) or v.dtype == np.bool_):
        raise HEInputError(f"client {cid}: dtype {v.dtype} is not an integer type")
    v = v.astype(np.int64)
    if v.size and (int(v.min()) < 0 or int(v.max()) > params.max_value):
        raise HEInputError(f"client {cid}: values outside [0, {params.max_value}]")
    return v
