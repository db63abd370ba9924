"""The advertise state, before ``start()``: fresh keys, one start, nothing received before it."""

from __future__ import annotations

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from prism_secure.protocols.errors import (
    AbortedError,
    MessageError,
    OutOfOrderError,
    VectorLengthError,
)
from prism_secure.protocols.secagg.client import SecAggClient
from prism_secure.protocols.secagg.client.states.advertise import AdvertiseKeysState
from prism_secure.protocols.secagg.client.states.share_keys import ShareKeysState
from prism_secure.protocols.secagg.crypto.commitments import seed_commitment
from prism_secure.protocols.secagg.messages import (
    Abort,
    AdvertiseKeys,
    ShareKeysRequest,
    decode,
    encode,
)


def fresh(lab: type, cid: int = 0) -> SecAggClient:
    """A client of the lab's session that has not started."""
    vector = np.zeros(lab.D, np.uint8)
    return SecAggClient(cid, vector, lab.PARAMS, round_index=lab.ROUND, model_digest=lab.DIGEST)


def test_start_advertises_fresh_keys_and_the_seed_commitment(make_lab) -> None:
    a, b = fresh(make_lab, 0), fresh(make_lab, 1)
    assert isinstance(a.current_state, AdvertiseKeysState) and a.state == "advertise"
    msg = decode(a.start(), max_size=1 << 20)
    assert isinstance(msg, AdvertiseKeys) and (msg.sender, msg.round) == (0, make_lab.ROUND)
    for key in (msg.share_key, msg.mask_key):
        X25519PublicKey.from_public_bytes(key)
    keys = a.current_state.keys
    assert isinstance(a.current_state, ShareKeysState)
    assert msg.seed_commitment == seed_commitment(keys.seed, 0, make_lab.ROUND)
    other = decode(b.start(), max_size=1 << 20)
    assert {msg.share_key, msg.mask_key}.isdisjoint({other.share_key, other.mask_key})


def test_start_only_once(make_lab) -> None:
    client = fresh(make_lab)
    client.start()
    with pytest.raises(OutOfOrderError, match="once"):
        client.start()
    assert client.state == "share"


def test_nothing_is_received_before_start(make_lab) -> None:
    client = fresh(make_lab)
    before = client.export_state()
    request = ShareKeysRequest(round=make_lab.ROUND, session_id=bytes(32), roster=[])
    for data, error in ((b"", MessageError), (b"\x02\x63", MessageError)):
        with pytest.raises(error):
            client.receive(data)
    with pytest.raises(OutOfOrderError, match="start"):
        client.receive(encode(request))
    assert client.state == "advertise" and client.export_state() == before


def test_server_abort_before_start(make_lab) -> None:
    client = fresh(make_lab)
    with pytest.raises(AbortedError) as info:
        client.receive(encode(Abort(round=make_lab.ROUND, reason="cohort full")))
    assert info.value.phase == "advertise" and client.state == "aborted"
    assert not client.holds_secrets and client.abort_message() is None


def test_bad_client_id_refused(make_lab) -> None:
    with pytest.raises(ValueError, match="client id"):
        fresh(make_lab, 2**32)


def test_wrong_input_length_refused(make_lab) -> None:
    params, digest = make_lab.PARAMS, make_lab.DIGEST
    for bad in (
        np.zeros(make_lab.D + 1, np.uint8),
        np.full(make_lab.D, 8, np.uint8),
        np.zeros(make_lab.D, np.float32),
    ):
        with pytest.raises(VectorLengthError):
            SecAggClient(0, bad, params, round_index=0, model_digest=digest)
