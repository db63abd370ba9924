"""The client's checks on what the server sends: pure functions, each raising a typed refusal.

They need no secret, so they run before the client computes or releases anything; the client's
states (:mod:`prism_secure.protocols.secagg.client.states`) call them step by step.
"""

from __future__ import annotations

from collections.abc import Collection

from prism_secure.protocols.errors import (
    BothSharesRequestedError,
    DroppedAndAliveError,
    InconsistentSurvivorsError,
    RosterError,
    SelfDroppedError,
    UnexpectedPeerError,
)
from prism_secure.protocols.secagg.crypto.keys import check_public_key
from prism_secure.protocols.secagg.messages import RosterEntry, UnmaskRequest


def check_roster(
    roster: list[RosterEntry],
    clients: int,
    own_id: int,
    own_keys: tuple[bytes, bytes],
    own_commitment: bytes,
) -> dict[int, tuple[bytes, bytes]]:
    """The roster as id -> (share key, mask key): unique, within the cohort, ours intact."""
    ids = [e.client for e in roster]
    if len(set(ids)) != len(ids):
        raise RosterError("roster", "duplicate client ids")
    keys = [e.share_key for e in roster] + [e.mask_key for e in roster]
    if len(set(keys)) != len(keys):
        raise RosterError("roster", "a public key is advertised twice (Sybil or replay)")
    if len(roster) > clients:
        raise RosterError("roster", f"{len(roster)} entries; the session declared {clients}")
    mine = {e.client: e for e in roster}.get(own_id)
    if mine is None or (mine.share_key, mine.mask_key) != own_keys:
        raise RosterError("roster", "our own public keys are missing or altered")
    if mine.seed_commitment != own_commitment:
        raise RosterError("roster", "our own seed commitment is altered")
    for e in roster:
        check_public_key(e.share_key, f"roster[{e.client}].share_key")
        check_public_key(e.mask_key, f"roster[{e.client}].mask_key")
    return {e.client: (e.share_key, e.mask_key) for e in roster}


def check_survivors(survivors: list[int], own_id: int, roster: Collection[int]) -> None:
    """The consistency round's list: sorted, unique, known, and with our own input in it."""
    if survivors != sorted(set(survivors)):
        raise InconsistentSurvivorsError("survivors", "must be sorted and unique")
    if own_id not in survivors:
        raise InconsistentSurvivorsError("survivors", "our own masked input is listed missing")
    unknown = set(survivors) - set(roster)
    if unknown:
        raise UnexpectedPeerError("survivors", f"never advertised keys: {sorted(unknown)[:5]}")


def check_unmask_request(
    msg: UnmaskRequest, own_id: int, holders: set[int], alive_then: set[int]
) -> None:
    """The lists of an UnmaskRequest agree with the consistency round; one share per peer."""
    survivors, dropped = set(msg.survivors), set(msg.dropped)
    seed_for, key_for = set(msg.seed_for), set(msg.key_for)
    if own_id in dropped:
        raise SelfDroppedError("dropped", "this client is listed as dropped")
    both = survivors & dropped
    if both:
        raise DroppedAndAliveError("dropped", f"also listed alive: {sorted(both)[:5]}")
    twice = seed_for & key_for
    if twice:
        raise BothSharesRequestedError("key_for", f"both shares asked of {sorted(twice)[:5]}")
    if survivors != holders & alive_then or dropped != holders - alive_then:
        raise InconsistentSurvivorsError(
            "survivors", "contradicts the survivor list of the consistency round"
        )
    if not seed_for <= survivors or not key_for <= dropped:
        raise InconsistentSurvivorsError("seed_for", "requests do not match the lists")
    stray = set(msg.tags) - (holders & alive_then) | ({own_id} & set(msg.tags))
    if stray:
        raise UnexpectedPeerError("tags", f"tags from unexpected peers {sorted(stray)[:5]}")
