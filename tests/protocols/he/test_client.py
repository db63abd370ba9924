"""The decrypting client refuses a tampered aggregate; the server a tampered result."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tenseal")

from prism_secure.protocols.errors import MessageError  # noqa: E402
from prism_secure.protocols.he import HEClient, HEDecryptionError, generate_keys  # noqa: E402
from prism_secure.protocols.he.frames import (  # noqa: E402
    KIND_AGGREGATE,
    decode_frame,
    encode_frame,
)


def test_tampered_aggregate_and_result_rejected(session, fresh_server, digest) -> None:
    params, keys, uploads = session
    server = fresh_server(params, keys)
    for c in range(3):
        server.receive(c, uploads[c])
    aggregate = server.aggregate()
    holder = HEClient(
        1,
        np.zeros(params.length, np.uint8),
        params,
        keys.client_bundles[1],
        round_index=2,
        model_digest=digest,
    )
    flipped = bytearray(aggregate)
    flipped[len(flipped) // 2] ^= 4
    with pytest.raises(MessageError):
        holder.decrypt(bytes(flipped))
    result = holder.decrypt(aggregate)
    with pytest.raises(MessageError):
        server.receive_result(result[:-3])
    total = server.receive_result(result)
    assert total.shape == (params.length,) and total.max() <= 3
    # ciphertexts under another key set decrypt to garbage: the range check catches it
    other = generate_keys(params, [0, 1, 2])
    stranger = HEClient(
        1,
        np.zeros(params.length, np.uint8),
        params,
        other.client_bundles[1],
        round_index=2,
        model_digest=digest,
    )
    frame = decode_frame(aggregate, kind=KIND_AGGREGATE)
    forged = encode_frame(KIND_AGGREGATE, stranger.session, frame.length, 3, frame.parts)
    with pytest.raises(HEDecryptionError, match="exceed"):
        stranger.decrypt(forged)
