"""The saved form of the client's states: records for the pickle-free codec, and their checks.

Each record starts with the round's public facts (client id, parameters, round, model digest);
then come the secrets the state still needs. These records hold private keys, the self-mask seed,
shares and pairwise secrets: see :mod:`prism_secure.protocols.secagg.client.snapshot` for the
envelope and why a saved state must never leave the client. The checks here refuse a record that
no run of the protocol could have produced, with a :class:`StateError` naming the field.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Annotated, Any, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from prism_secure.protocols.errors import StateError
from prism_secure.protocols.secagg.crypto import shamir
from prism_secure.protocols.secagg.masking import session_graph
from prism_secure.protocols.secagg.messages import ClientId, Round, SessionId, Share
from prism_secure.protocols.secagg.params import SessionParams
from prism_secure.protocols.secagg.vectors import pack, unpack

Secret = Annotated[bytes, Field(min_length=32, max_length=32)]
MaybeSession = Annotated[bytes, Field(max_length=32)]


class Record(BaseModel):
    """The header of every saved state: the round's public facts."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    client: ClientId
    params: str  # SessionParams as JSON: the codec has no optional fields, the JSON is canonical
    round: Round
    model_digest: bytes


class KeysRecord(Record):
    """Before and after ``start()``: the fresh keys, the seed, and the input packed at b bits."""

    share_key: Secret
    mask_key: Secret
    seed: Secret
    vector: bytes


class DealtRecord(Record):
    """After ShareKeys: the input, the seed, the session, pairwise secrets and own shares."""

    vector: bytes
    seed: Secret
    session: SessionId
    roster: list[ClientId]
    share_secrets: dict[ClientId, Secret]
    mask_seeds: dict[ClientId, Secret]
    seed_share: Share
    key_share: Share


class HeldShares(BaseModel):
    """The two shares one dealer gave this client."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    seed_share: Share
    key_share: Share


class HeldRecord(Record):
    """After the masked input: the shares held, the pairwise secrets, the survivors (if known)."""

    session: SessionId
    roster: list[ClientId]
    share_secrets: dict[ClientId, Secret]
    held: dict[ClientId, HeldShares]
    survivors: list[ClientId]


class EndRecord(Record):
    """Completed or aborted: no secret, only how the round ended for this client."""

    session: MaybeSession
    cause: str
    error: str
    reason: str


def header(client: int, params: SessionParams, round_index: int, digest: bytes) -> dict:
    """The header fields of a record."""
    return {
        "client": client,
        "params": params.model_dump_json(),
        "round": round_index,
        "model_digest": digest,
    }


def pack_input(vector: np.ndarray, params: SessionParams) -> bytes:
    return pack(vector, params.bits)


def unpack_input(data: bytes, params: SessionParams) -> np.ndarray:
    """The input vector of a record: exactly ``packed_size`` bytes."""
    if len(data) != params.packed_size:
        raise StateError("vector", f"{len(data)} bytes, expected {params.packed_size}")
    return unpack(data, params.bits, params.length)


def share_value(data: bytes, field: str) -> int:
    try:
        return shamir.share_from_bytes(data)
    except ValueError:
        raise StateError(field, "share out of field range") from None


def check_roster_ids(roster: list[int], own: int, params: SessionParams) -> None:
    """Sorted, unique, with this client, within the cohort and at least t long."""
    if roster != sorted(set(roster)):
        raise StateError("roster", "must be sorted and unique")
    if own not in roster:
        raise StateError("roster", "does not list this client")
    if not params.threshold <= len(roster) <= params.clients:
        raise StateError("roster", f"{len(roster)} clients; the session allows t..n")


def check_keys(keys: Collection[int], expected: Collection[int], field: str) -> None:
    if set(keys) != set(expected):
        raise StateError(field, "does not cover exactly the peers this state needs")


def check_survivors(survivors: list[int], own: int, roster: Collection[int], t: int) -> None:
    """The consistency round's list as this client accepted it."""
    if survivors != sorted(set(survivors)) or own not in survivors:
        raise StateError("survivors", "must be sorted, unique and list this client")
    if not set(survivors) <= set(roster) or len(survivors) < t:
        raise StateError("survivors", "outside the roster or below the threshold")


def held_shares(held: Mapping[int, HeldShares]) -> dict[int, tuple[int, int]]:
    return {
        peer: (
            share_value(h.seed_share, f"held[{peer}].seed_share"),
            share_value(h.key_share, f"held[{peer}].key_share"),
        )
        for peer, h in held.items()
    }


class Holding(Protocol):
    """What a consistency or unmask state holds (the fields its record saves)."""

    session: bytes
    roster: tuple[int, ...]
    share_secrets: dict[int, bytes]
    held: dict[int, tuple[int, int]]


def held_record(header: dict[str, Any], state: Holding, survivors: list[int]) -> HeldRecord:
    """The record of a state that holds its dealers' shares (consistency or unmask)."""
    return HeldRecord(
        **header,
        session=state.session,
        roster=list(state.roster),
        share_secrets=state.share_secrets,
        held={
            peer: HeldShares(
                seed_share=shamir.share_to_bytes(seed), key_share=shamir.share_to_bytes(key)
            )
            for peer, (seed, key) in state.held.items()
        },
        survivors=survivors,
    )


def held_fields(record: HeldRecord, own: int, params: SessionParams) -> dict[str, Any]:
    """The checked fields of a consistency or unmask state, from its record."""
    check_roster_ids(record.roster, own, params)
    if own not in record.held or len(record.held) < params.threshold:
        raise StateError("held", "must hold this client's own shares and at least t in all")
    dealers = set(record.held) - {own}
    if not dealers <= session_graph(record.roster, record.session, params)[own]:
        raise StateError("held", "shares from clients that are not our neighbours")
    check_keys(record.share_secrets, dealers, "share_secrets")
    if record.survivors:
        check_survivors(record.survivors, own, record.roster, params.threshold)
    return {
        "session": record.session,
        "roster": tuple(record.roster),
        "share_secrets": dict(record.share_secrets),
        "held": held_shares(record.held),
    }
