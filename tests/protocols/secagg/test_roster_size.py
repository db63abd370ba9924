"""Roster size: the client's memory is bounded by the cohort it agreed to, never O(roster^2).

A server may send any roster under the message size limit. Each test that could exhaust memory
on a client without that bound runs in a child process capped at 1 GiB of address space, so a
failure is a MemoryError there, not a machine out of memory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from prism_secure.protocols.errors import ProtocolViolation
from prism_secure.protocols.secagg.client import SecAggClient
from prism_secure.protocols.secagg.messages import RosterEntry, ShareKeysRequest, decode, encode
from prism_secure.protocols.secagg.params import SessionParams
from prism_secure.protocols.secagg.session import session_id

CAP = 1 << 30

PRELUDE = """
import json, os, resource, sys
resource.setrlimit(resource.RLIMIT_AS, ({cap}, {cap}))
import numpy as np
from prism_secure.protocols.secagg.client import SecAggClient
from prism_secure.protocols.secagg.messages import RosterEntry, ShareKeysRequest, decode, encode
from prism_secure.protocols.secagg.params import SessionParams
from prism_secure.protocols.secagg.session import session_id

def session_params(n, **kw):
    if "clients" in SessionParams.model_fields:
        kw["clients"] = n
    return SessionParams(**kw)

def entry(cid):
    keys = [bytearray(os.urandom(32)) for _ in range(3)]
    for k in keys[:2]:
        k[31] &= 0x7F  # canonical X25519 encodings
    fields = {{"client": cid, "share_key": bytes(keys[0]), "mask_key": bytes(keys[1])}}
    if "seed_commitment" in RosterEntry.model_fields:
        fields["seed_commitment"] = bytes(keys[2])
    return RosterEntry(**fields)

def forged_roster(client, params, size):
    own = decode(client.start(), max_size=1 << 20)
    mine = {{k: getattr(own, k) for k in RosterEntry.model_fields if k != "client"}}
    roster = [RosterEntry(client=0, **mine)] + [entry(c) for c in range(1, size)]
    sid = session_id(params, 1, bytes(32), roster)
    return encode(ShareKeysRequest(round=1, session_id=sid, roster=roster))

def rss_mb():
    # peak resident memory of this process so far (VmHWM), in MB
    status = open("/proc/self/status").read()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024
"""


def run_capped(body: str) -> dict:
    code = PRELUDE.format(cap=CAP) + textwrap.dedent(body)
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_huge_roster_from_server_is_refused_with_a_typed_error_not_memory_exhaustion() -> None:
    """8,000 entries (0.54 MB) for a cohort of 10: the old client built 8,000 x 7,999 sets."""
    result = run_capped(
        """
        params = session_params(10, threshold=6, bits=4, length=8)
        client = SecAggClient(0, np.zeros(8, np.uint8), params, round_index=1,
                              model_digest=bytes(32))
        data = forged_roster(client, params, 8000)
        before = rss_mb()
        try:
            client.receive(data)
            error = None
        except MemoryError:
            error = "MemoryError"
        except Exception as exc:
            error = type(exc).__name__ + ": " + str(exc)[:200]
        print(json.dumps({"size": len(data), "error": error, "state": client.state,
                          "grew_mb": rss_mb() - before}))
        """
    )
    assert result["size"] < 16 << 20  # under the old pre-roster limit
    assert result["error"] and not result["error"].startswith("MemoryError"), result
    from prism_secure.protocols.errors import MessageError, RosterError

    names = (MessageError.__name__, RosterError.__name__)
    assert result["error"].split(":")[0] in names, result
    assert result["state"] == "share" or result["state"] == "aborted", result
    assert result["grew_mb"] < 50, result


def test_roster_longer_than_the_declared_cohort_is_refused() -> None:
    """Six entries for a cohort of five: a Sybil the server slipped in is caught by count."""
    n = 5
    kw = {"threshold": 3, "bits": 3, "length": 8}
    if "clients" in SessionParams.model_fields:
        kw["clients"] = n
    params = SessionParams(**kw)
    clients = [
        SecAggClient(c, np.zeros(8, np.uint8), params, round_index=1, model_digest=bytes(32))
        for c in range(n + 1)
    ]
    starts = [decode(c.start(), max_size=1 << 20) for c in clients]
    roster = [
        RosterEntry(
            **{k: getattr(m, k if k != "client" else "sender") for k in RosterEntry.model_fields}
        )
        for m in starts
    ]
    sid = session_id(params, 1, bytes(32), roster)
    data = encode(ShareKeysRequest(round=1, session_id=sid, roster=roster))
    with pytest.raises(ProtocolViolation, match="declared"):
        clients[0].receive(data)
    assert clients[0].state == "aborted"


@pytest.mark.parametrize("graph", ["full", "sparse"])
def test_server_graph_memory_is_linear_in_the_cohort(graph: str) -> None:
    """2,000 clients advertise: the old server stored every neighbour set (O(n^2) ints)."""
    result = run_capped(
        f"""
        from prism_secure.protocols.secagg.messages import AdvertiseKeys
        from prism_secure.protocols.secagg.server import SecAggServer
        n = 2000
        k = 20 if "{graph}" == "sparse" else None
        t = (k // 2 + 1) if k else n // 2 + 1
        params = session_params(n, threshold=t, bits=11, length=8, graph="{graph}", neighbours=k)
        server = SecAggServer(params, round_index=1, model_digest=bytes(32))
        for c in range(n):
            e = entry(c)
            fields = dict(sender=c, round=1, share_key=e.share_key, mask_key=e.mask_key)
            if "seed_commitment" in AdvertiseKeys.model_fields:
                fields["seed_commitment"] = e.seed_commitment
            try:
                server.receive(c, encode(AdvertiseKeys(**fields)))
            except Exception:
                pass  # a random key of small order: never in practice
        before = rss_mb()
        out = server.advance()
        print(json.dumps({{"grew_mb": rss_mb() - before, "sent": len(out)}}))
        """
    )
    assert result["sent"] >= 1990
    assert result["grew_mb"] < 60, result
