"""The server of the homomorphic path: adds ciphertexts it cannot read, learns only the counts.

It refuses a context that holds a secret key, checks every upload's frame and ciphertexts
before adding it (a bad upload leaves the aggregate as it was), and range-checks the
decryptor's counts.
"""

from __future__ import annotations

import time

import numpy as np

from prism_secure.protocols.errors import AbortedError, MessageError, ReplayError
from prism_secure.protocols.he.backend import load_context, load_vector, ts
from prism_secure.protocols.he.errors import HEParameterError
from prism_secure.protocols.he.frames import (
    KIND_AGGREGATE,
    KIND_RESULT,
    KIND_UPLOAD,
    decode_frame,
    encode_frame,
)
from prism_secure.protocols.he.keys import KeyBundle
from prism_secure.protocols.he.params import HEParams, session_id


class HEServer:
    """Adds ciphertexts it cannot read; learns the sum only from the decryptor's result frame."""

    def __init__(
        self,
        params: HEParams,
        bundle: bytes,
        *,
        round_index: int,
        model_digest: bytes,
        clients: list[int],
        min_survivors: int = 2,
    ) -> None:
        keys = KeyBundle.from_bytes(bundle)
        self.ctx = load_context(keys.context, "context")
        if self.ctx.is_private():
            raise HEParameterError("the server's context holds a secret key: refusing it")
        self.params, self.clients = params, set(clients)
        self.min_survivors = min_survivors
        self.session = session_id(
            params, round_index=round_index, model_digest=model_digest, key_id=keys.key_id
        )
        self.acc: list[ts.BFVVector] | None = None
        self.survivors: list[int] = []
        self.total: np.ndarray | None = None
        self.seconds = 0.0

    def receive(self, cid: int, data: bytes) -> None:
        """Add one client's upload. Bad bytes raise :class:`MessageError`, state unchanged."""
        start = time.perf_counter()
        try:
            if cid not in self.clients:
                raise MessageError("sender", f"client {cid} is not in this round's cohort")
            if cid in self.survivors:
                raise ReplayError(f"client {cid} already uploaded")
            if self.total is not None:
                raise ReplayError("the aggregate was already decrypted")
            p = self.params
            frame = decode_frame(data, kind=KIND_UPLOAD, session=self.session)
            if frame.length != p.length or frame.summands != 1 or len(frame.parts) != p.chunks:
                raise MessageError(
                    "parts", f"upload of length {frame.length} in {len(frame.parts)} parts"
                )
            vecs = [
                load_vector(self.ctx, part, p.slots(i), f"parts[{i}]")
                for i, part in enumerate(frame.parts)
            ]
            if self.acc is None:
                self.acc = vecs
            else:
                for a, v in zip(self.acc, vecs, strict=True):
                    a.add_(v)
            self.survivors.append(cid)
        finally:
            self.seconds += time.perf_counter() - start

    def aggregate(self) -> bytes:
        """The summed ciphertexts for the decryptor; aborts below ``min_survivors`` uploads."""
        start = time.perf_counter()
        if len(self.survivors) < self.min_survivors or self.acc is None:
            raise AbortedError(
                f"{len(self.survivors)} uploads, need at least {self.min_survivors}",
                phase="upload",
            )
        parts = [a.serialize() for a in self.acc]
        out = encode_frame(
            KIND_AGGREGATE, self.session, self.params.length, len(self.survivors), parts
        )
        self.seconds += time.perf_counter() - start
        return out

    def receive_result(self, data: bytes) -> np.ndarray:
        """The decryptor's plaintext counts, checked against shape and range, as int64."""
        start = time.perf_counter()
        p = self.params
        frame = decode_frame(data, kind=KIND_RESULT, session=self.session)
        dt = p.result_dtype
        if frame.summands != len(self.survivors) or len(frame.parts) != 1:
            raise MessageError("summands", "result does not match the aggregate sent")
        if len(frame.parts[0]) != p.length * dt.itemsize:
            raise MessageError("parts[0]", f"{len(frame.parts[0])} bytes for {p.length} counts")
        total = np.frombuffer(frame.parts[0], dtype=dt).astype(np.int64)
        if total.size and int(total.max()) > len(self.survivors) * p.max_value:
            raise MessageError("parts[0]", "a count exceeds survivors x max_value")
        self.total = total
        self.seconds += time.perf_counter() - start
        return total
