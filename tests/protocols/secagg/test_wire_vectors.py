"""Frozen wire bytes: with its randomness fixed, a round sends exactly the bytes it always did.

Every source of randomness a round draws from (the clients' X25519 keys and self-mask seeds, the
Shamir coefficients, the AEAD nonces) is replaced by one seeded generator; the digest of every
message in both directions, of the sums and of the byte counts, over four rounds (full and sparse
graphs, dropouts at every phase, both PRGs and AEADs), must equal the digest recorded from the
release before the protocol was split into per-state modules.
"""

from __future__ import annotations

import hashlib
import random
from types import SimpleNamespace

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from prism_secure.protocols.secagg.client import own_keys
from prism_secure.protocols.secagg.crypto import aead, shamir
from prism_secure.protocols.secagg.driver import run_secure_sum
from prism_secure.protocols.secagg.messages import Abort, ClientAbort, encode
from prism_secure.protocols.secagg.server import machine

FROZEN = "c1892f935bd4106daf201ce5ef4d34e85a764cdf1920a5bc45ae246545d450d6"
CASES: list[dict] = [
    {"n": 5, "d": 40, "threshold": 3, "graph": "full", "dropouts": {}},
    {"n": 6, "d": 33, "threshold": 4, "graph": "full", "dropouts": {1: "masked", 4: "unmask"}},
    {
        "n": 9,
        "d": 50,
        "threshold": 3,
        "graph": "sparse",
        "neighbours": 4,
        "dropouts": {2: "share", 5: "masked", 7: "consistency"},
    },
    {
        "n": 5,
        "d": 20,
        "threshold": 3,
        "graph": "full",
        "dropouts": {0: "advertise"},
        "prg": "chacha20",
        "aead": "chacha20-poly1305",
    },
]


def test_seeded_rounds_send_the_frozen_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(0)
    urandom = SimpleNamespace(urandom=lambda k: rng.randbytes(k))
    keys = SimpleNamespace(
        generate=lambda: X25519PrivateKey.from_private_bytes(rng.randbytes(32)),
        from_private_bytes=X25519PrivateKey.from_private_bytes,
    )
    monkeypatch.setattr(own_keys, "os", urandom)
    monkeypatch.setattr(own_keys, "X25519PrivateKey", keys)
    monkeypatch.setattr(aead, "os", urandom)
    monkeypatch.setattr(shamir, "secrets", SimpleNamespace(randbelow=lambda n: rng.randrange(n)))
    log = hashlib.sha256()
    receive, advance = machine.SecAggServer.receive, machine.SecAggServer.advance

    def logged_receive(self: machine.SecAggServer, sender: int, data: bytes) -> None:
        log.update(b"up%d:" % sender + data)
        receive(self, sender, data)

    def logged_advance(self: machine.SecAggServer) -> list[tuple[int, bytes]]:
        out = advance(self)
        for c, data in out:
            log.update(b"down%d:" % c + data)
        return out

    monkeypatch.setattr(machine.SecAggServer, "receive", logged_receive)
    monkeypatch.setattr(machine.SecAggServer, "advance", logged_advance)
    for case in CASES:
        case = dict(case)
        n, d = case.pop("n"), case.pop("d")
        data = np.random.default_rng(n).integers(0, 2, (n, d), dtype=np.uint8)
        res = run_secure_sum(
            {c: data[c] for c in range(n)}, round_index=3, model_digest=bytes(range(32)), **case
        )
        np.testing.assert_array_equal(
            res.total, sum(data[c].astype(np.int64) for c in res.survivors)
        )
        log.update(res.total.tobytes() + repr(res.survivors).encode())
        log.update(repr(sorted(res.bytes_up_per_client.items())).encode())
        log.update(repr(sorted(res.bytes_down_per_client.items())).encode())
    assert log.hexdigest() == FROZEN


def test_aborts_encode_as_before() -> None:
    assert encode(Abort(round=300, reason="too few ✓")).hex() == "020fac020b746f6f2066657720e29c93"
    assert encode(ClientAbort(sender=70000, round=3, reason="refused")).hex() == (
        "020ef0a204030772656675736564"
    )
