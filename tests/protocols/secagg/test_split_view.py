"""The split-view attack on SecAgg+: a server that shows two groups two survivor lists.

The server tells group A of the victim's holders that the victim survived (they reveal seed
shares) and disjoint group B that it dropped (they reveal key shares), forwarding to each group
only the consistency tags of its own members, so every client check passes. With the victim's
own seed share, t seed shares and t key shares strip every mask off the victim's vector. That
needs 2t <= k + 1 on the sparse graph (2t <= n on the full graph); the rule 2t > k (2t > n)
makes it impossible, and SessionParams refuses anything less.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from prism_secure.protocols.errors import SecAggError
from prism_secure.protocols.secagg.client import SecAggClient
from prism_secure.protocols.secagg.crypto import kdf, shamir
from prism_secure.protocols.secagg.crypto.prg import expand
from prism_secure.protocols.secagg.graph import neighbours
from prism_secure.protocols.secagg.messages import (
    ConsistencyRequest,
    UnmaskRequest,
    decode,
    encode,
)
from prism_secure.protocols.secagg.params import SessionParams
from prism_secure.protocols.secagg.server import SecAggServer
from prism_secure.protocols.secagg.vectors import unpack

D, BITS, ROUND, VICTIM = 16, 6, 2, 0
DIGEST = os.urandom(32)


def session_params(n: int, **kw: object) -> SessionParams:
    """SessionParams for a cohort of n (the cohort size became a field with the security rule)."""
    if "clients" in SessionParams.model_fields:
        kw["clients"] = n
    return SessionParams(**kw)  # type: ignore[arg-type]


def clique_with(victim: int, graph: dict[int, frozenset[int]], size: int) -> list[int]:
    """``size`` of the victim's holders, all neighbours of one another (A must confirm A)."""
    for start in sorted(graph[victim]):
        group = [start]
        for h in sorted(graph[victim]):
            if len(group) < size and h not in group and all(h in graph[g] for g in group):
                group.append(h)
        if len(group) >= size:
            return group[:size]
    raise AssertionError("no clique of that size around the victim")


def split_view_attack(params: SessionParams, n: int) -> tuple[np.ndarray | None, np.ndarray]:
    """Run one round as the malicious server; return (the victim's input if recovered, truth)."""
    rng = np.random.default_rng(n)
    inputs = {c: rng.integers(0, 2, D, dtype=np.uint8) for c in range(n)}
    clients = {
        c: SecAggClient(c, inputs[c], params, round_index=ROUND, model_digest=DIGEST)
        for c in range(n)
    }
    server = SecAggServer(params, round_index=ROUND, model_digest=DIGEST, clients=list(range(n)))
    for c, client in clients.items():
        server.receive(c, client.start())
    masked = b""
    roster = {}
    for _ in range(2):  # honest key sharing, then every masked input (the victim's kept aside)
        for cid, data in server.advance():
            msg = decode(data, max_size=1 << 24)
            roster = {e.client: e for e in getattr(msg, "roster", [])} or roster
            (reply,) = clients[cid].receive(data)
            if cid == VICTIM and "vector" in type(decode(reply, max_size=1 << 24)).model_fields:
                masked = decode(reply, max_size=1 << 24).vector
            server.receive(cid, reply)
    sid = server.session_id
    graph = neighbours(list(range(n)), sid, params.neighbours if params.graph == "sparse" else None)
    t = params.threshold
    a_group = clique_with(VICTIM, graph, t - 1)
    b_group = sorted(graph[VICTIM] - set(a_group))
    everyone = list(range(n))
    lists = {c: everyone if c in a_group or c == VICTIM else everyone[1:] for c in everyone}

    def ask(cid: int, msg: object) -> object | None:
        try:
            (reply,) = clients[cid].receive(encode(msg))  # type: ignore[arg-type]
        except SecAggError:
            return None  # this client refused: it reveals nothing more
        return decode(reply, max_size=1 << 24)

    confirmations = {
        c: ask(c, ConsistencyRequest(round=ROUND, session_id=sid, survivors=lists[c]))
        for c in everyone
    }
    seeds, keys = {}, {}
    for c in [VICTIM, *a_group, *b_group]:
        holders = graph[c] | {c}
        alive, gone = sorted(holders & set(lists[c])), sorted(holders - set(lists[c]))
        tags = {
            p: confirmations[p].tags[c]  # type: ignore[union-attr]
            for p in sorted(graph[c])
            if confirmations[p] is not None and lists[p] == lists[c]
        }
        request = UnmaskRequest(
            round=ROUND,
            session_id=sid,
            survivors=alive,
            dropped=gone,
            seed_for=alive,
            key_for=gone,
            tags=tags,
        )
        reply = ask(c, request)
        if reply is not None and VICTIM in reply.seed_shares:  # type: ignore[attr-defined]
            seeds[c + 1] = int.from_bytes(reply.seed_shares[VICTIM], "little")  # type: ignore[attr-defined]
        if reply is not None and VICTIM in reply.key_shares:  # type: ignore[attr-defined]
            keys[c + 1] = int.from_bytes(reply.key_shares[VICTIM], "little")  # type: ignore[attr-defined]
    if len(seeds) < t or len(keys) < t:
        return None, inputs[VICTIM]
    seed = shamir.combine(seeds, t).to_bytes(32, "little")
    private = X25519PrivateKey.from_private_bytes(shamir.combine(keys, t).to_bytes(32, "little"))
    x = unpack(masked, params.bits, D).astype(np.int64) - expand(seed, D, params.dtype, params.prg)
    for u in sorted(graph[VICTIM]):
        a, b = kdf.pair(VICTIM, u)
        pairwise = kdf.derive(kdf.exchange(private, roster[u].mask_key), b"mask", sid, ROUND, a, b)
        stream = expand(pairwise, D, params.dtype, params.prg).astype(np.int64)
        x = x - stream if u > VICTIM else x + stream
    return x % (1 << params.bits), inputs[VICTIM]


# (graph, n, k, t): each has 2t <= k (sparse) or 2t <= n (full), where the attack worked
INSECURE = [("sparse", 8, 6, 3), ("sparse", 10, 8, 4), ("sparse", 42, 40, 20), ("full", 6, None, 3)]


@pytest.mark.parametrize(("graph", "n", "k", "t"), INSECURE, ids=lambda v: str(v))
def test_split_view_attack_cannot_recover_a_victims_input(
    graph: str, n: int, k: int | None, t: int
) -> None:
    kw = {"bits": BITS, "length": D, "graph": graph, "neighbours": k}
    try:
        params = session_params(n, threshold=t, **kw)
    except ValueError as exc:  # the rule refuses these parameters outright
        assert "insecure" in str(exc) and "2t" in str(exc)
        secure = (k // 2 + 1) if graph == "sparse" else (n // 2 + 1)  # type: ignore[operator]
        params = session_params(n, threshold=secure, **kw)  # the least t the rule allows
    recovered, truth = split_view_attack(params, n)
    assert recovered is None or not np.array_equal(recovered, truth), (
        f"the server recovered client {VICTIM}'s input exactly with t = {params.threshold}"
    )


def test_an_insecure_session_runs_only_marked_so_and_then_the_attack_succeeds() -> None:
    kw = {"bits": BITS, "length": D, "graph": "full", "neighbours": None, "threshold": 3}
    with pytest.raises(ValueError, match="insecure"):
        session_params(6, **kw)
    params = session_params(6, insecure=True, **kw)
    # The mark is bound into the session id, and only when set: secure ids are as before.
    secure = session_params(6, **{**kw, "threshold": 4})
    assert secure.digest() != secure.model_copy(update={"insecure": True}).digest()
    recovered, truth = split_view_attack(params, 6)
    assert recovered is not None and np.array_equal(recovered, truth)
