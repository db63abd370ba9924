"""What the server sends when a phase closes: the requests that open the next one (and the
roster, when the advertise phase closes).

Each builder takes the phase sets it depends on by name (who advertised, who shared keys, whose
masked input arrived, who confirmed the survivor list) and returns ``[(client, bytes), ...]``.
"""

from __future__ import annotations

from collections.abc import Mapping

from prism_secure.protocols.secagg.graph import Graph
from prism_secure.protocols.secagg.messages import (
    AdvertiseKeys,
    ConsistencyReply,
    ConsistencyRequest,
    MaskedInputRequest,
    RosterEntry,
    ShareKeysReply,
    ShareKeysRequest,
    UnmaskRequest,
    encode,
)

Outgoing = list[tuple[int, bytes]]
Requested = tuple[frozenset[int], frozenset[int]]  # (seed shares asked for, key shares asked for)


def roster(adverts: Mapping[int, AdvertiseKeys]) -> list[RosterEntry]:
    """Everyone who advertised keys, by id: the roster the session id is computed over."""
    return [
        RosterEntry(
            client=c, share_key=m.share_key, mask_key=m.mask_key, seed_commitment=m.seed_commitment
        )
        for c, m in sorted(adverts.items())
    ]


def share_keys_requests(round_index: int, session: bytes, roster: list[RosterEntry]) -> Outgoing:
    """The roster, to every client on it."""
    data = encode(ShareKeysRequest(round=round_index, session_id=session, roster=roster))
    return [(e.client, data) for e in roster]


def masked_input_requests(
    round_index: int, session: bytes, shared: frozenset[int], replies: Mapping[int, ShareKeysReply]
) -> Outgoing:
    """Each client that shared keys gets the ciphertexts (and digests) addressed to it by the
    others that did."""
    inbox: dict[int, dict[int, bytes]] = {c: {} for c in shared}
    digests: dict[int, dict[int, bytes]] = {c: {} for c in shared}
    for sender in sorted(shared):
        reply = replies[sender]
        for receiver, ct in reply.ciphertexts.items():
            if receiver in shared:
                inbox[receiver][sender] = ct
                digests[receiver][sender] = reply.share_digests[receiver]
    out = []
    for c in sorted(shared):
        request = MaskedInputRequest(
            round=round_index, session_id=session, ciphertexts=inbox[c], share_digests=digests[c]
        )
        out.append((c, encode(request)))
    return out


def consistency_requests(round_index: int, session: bytes, survivors: list[int]) -> Outgoing:
    """The list of clients whose masked input arrived, to each of them."""
    data = encode(ConsistencyRequest(round=round_index, session_id=session, survivors=survivors))
    return [(c, data) for c in survivors]


def unmask_requests(
    round_index: int,
    session: bytes,
    graph: Graph,
    sets: tuple[frozenset[int], frozenset[int], frozenset[int]],
    replies: Mapping[int, ConsistencyReply],
) -> tuple[Outgoing, dict[int, Requested]]:
    """Per confirmed client: which of its holders survived or dropped, the shares to release,
    and its peers' tags; with the shares asked of each (to check the replies against).

    ``sets`` are the phase sets (shared, masked, confirmed).
    """
    shared, masked, confirmed = sets
    out, requested = [], {}
    for c in sorted(confirmed):
        holders = (graph[c] & shared) | {c}
        survivors = sorted(holders & masked)
        dropped = sorted(holders - masked)
        tags = {peer: replies[peer].tags[c] for peer in sorted(holders & confirmed - {c})}
        requested[c] = (frozenset(survivors), frozenset(dropped))
        lists = {"survivors": survivors, "dropped": dropped}
        asked = {"seed_for": survivors, "key_for": dropped}  # one share of each holder, never both
        request = UnmaskRequest(round=round_index, session_id=session, tags=tags, **lists, **asked)
        out.append((c, encode(request)))
    return out, requested
