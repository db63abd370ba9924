"""Waiting for MaskedInputRequest: open the neighbours' shares, then send the masked vector.

Only neighbours may have sent ciphertexts, each with its dealer's digests; every share pair is
decrypted and checked against them (a wrong digest is caught here, before unmasking). The
vector is masked with the self-mask and the pairwise masks of the neighbours that shared keys;
the input and the pairwise mask seeds are then dropped (a pairwise seed masks exactly one vector).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from prism_secure.protocols.errors import StateError, UnexpectedPeerError
from prism_secure.protocols.secagg.client.dealing import open_plaintext, share_aad
from prism_secure.protocols.secagg.client.records import (
    DealtRecord,
    check_keys,
    check_roster_ids,
    pack_input,
    share_value,
    unpack_input,
)
from prism_secure.protocols.secagg.client.states.base import InSession, RoundInfo, Step, need
from prism_secure.protocols.secagg.client.states.consistency import ConsistencyState
from prism_secure.protocols.secagg.crypto import aead, kdf, shamir
from prism_secure.protocols.secagg.masking import masked_vector, session_graph
from prism_secure.protocols.secagg.messages import MaskedInputReply, MaskedInputRequest, Message


@dataclass(frozen=True, repr=False)
class MaskedInputState(InSession):
    """Shares dealt; the neighbours' shares and the request for the masked vector are to come.

    ``vector`` is consumed: masking adds to it in place.
    """

    NAME, KIND, REQUEST, RECORD = "masked", 3, MaskedInputRequest, DealtRecord
    vector: np.ndarray
    seed: bytes
    peers: frozenset[int]
    mask_seeds: dict[int, bytes]  # peer -> pairwise mask seed, this session only
    own_shares: tuple[int, int]  # the shares of our own seed and mask key we dealt ourselves

    def handle(self, info: RoundInfo, message: Message) -> Step:
        msg = cast(MaskedInputRequest, message)
        me = info.client_id
        senders = set(msg.ciphertexts)
        stray = senders - self.peers
        if stray:
            raise UnexpectedPeerError("ciphertexts", f"not our neighbours: {sorted(stray)[:5]}")
        if set(msg.share_digests) != senders:
            raise UnexpectedPeerError(
                "share_digests", "must cover exactly the ciphertexts' senders"
            )
        need(len(senders) + 1, "clients completed key sharing", info.params, self.NAME)
        held = {peer: self._open(info, msg, peer) for peer in sorted(senders)}
        held[me] = self.own_shares

        start = time.perf_counter()
        pairwise = {peer: self.mask_seeds[peer] for peer in senders}  # who shared keys with us
        vector = masked_vector(self.vector, self.seed, pairwise, me, info.params)
        seconds = time.perf_counter() - start
        state = ConsistencyState(
            session=self.session,
            roster=self.roster,
            share_secrets={peer: self.share_secrets[peer] for peer in sorted(senders)},
            held=held,
        )
        reply = MaskedInputReply(
            sender=me, round=info.round_index, session_id=self.session, vector=vector
        )
        return Step(state, reply, masking_seconds=seconds)

    def _open(self, info: RoundInfo, msg: MaskedInputRequest, peer: int) -> tuple[int, int]:
        """The seed and key shares ``peer`` dealt us, decrypted and checked against its digests."""
        me = info.client_id
        key = kdf.derive(
            self.share_secrets[peer], b"share-enc", self.session, info.round_index, peer, me
        )
        plain = aead.open_sealed(
            info.params.aead,
            key,
            msg.ciphertexts[peer],
            share_aad(self.session, peer, me),
            field=f"ciphertexts[{peer}]",
        )
        return open_plaintext(plain, self.session, peer, me, msg.share_digests[peer])

    def to_record(self, header: dict[str, Any], info: RoundInfo) -> DealtRecord:
        return DealtRecord(
            **header,
            vector=pack_input(self.vector, info.params),
            seed=self.seed,
            session=self.session,
            roster=list(self.roster),
            share_secrets=self.share_secrets,
            mask_seeds=self.mask_seeds,
            seed_share=shamir.share_to_bytes(self.own_shares[0]),
            key_share=shamir.share_to_bytes(self.own_shares[1]),
        )

    @classmethod
    def from_record(cls, record: DealtRecord, info: RoundInfo) -> MaskedInputState:
        me, p = info.client_id, info.params
        check_roster_ids(record.roster, me, p)
        peers = session_graph(record.roster, record.session, p)[me]
        check_keys(record.share_secrets, peers, "share_secrets")
        check_keys(record.mask_seeds, peers, "mask_seeds")
        if len(peers) + 1 < p.threshold:
            raise StateError("roster", "this client's neighbourhood is below the threshold")
        return cls(
            session=record.session,
            roster=tuple(record.roster),
            share_secrets=dict(record.share_secrets),
            vector=unpack_input(record.vector, p),
            seed=record.seed,
            peers=peers,
            mask_seeds=dict(record.mask_seeds),
            own_shares=(
                share_value(record.seed_share, "seed_share"),
                share_value(record.key_share, "key_share"),
            ),
        )
