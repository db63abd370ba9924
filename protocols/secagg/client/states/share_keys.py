"""Waiting for ShareKeysRequest: check the roster and the session id, then deal and seal shares.

The roster must be unique, within the declared cohort, with our own keys and commitment intact
and every key valid (:func:`~prism_secure.protocols.secagg.client.checks.check_roster`); the
session id must hash exactly what we saw. Then the client deals Shamir shares of its seed and
mask key to its neighbours and itself, encrypts each neighbour's pair, and agrees the pairwise
mask seeds. From here on the private keys are no longer needed and are dropped.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import cast

from prism_secure.protocols.errors import SessionMismatchError
from prism_secure.protocols.secagg.client.checks import check_roster
from prism_secure.protocols.secagg.client.dealing import deal, seal_for_peers
from prism_secure.protocols.secagg.client.own_keys import BeforeSharing
from prism_secure.protocols.secagg.client.states.base import RoundInfo, Step, need
from prism_secure.protocols.secagg.client.states.masked_input import MaskedInputState
from prism_secure.protocols.secagg.masking import session_graph
from prism_secure.protocols.secagg.messages import Message, ShareKeysReply, ShareKeysRequest
from prism_secure.protocols.secagg.session import session_id as compute_session_id


@dataclass(frozen=True, repr=False)
class ShareKeysState(BeforeSharing):
    """Keys advertised; the roster and the session id are still to come."""

    NAME, KIND, REQUEST = "share", 2, ShareKeysRequest

    def handle(self, info: RoundInfo, message: Message) -> Step:
        msg = cast(ShareKeysRequest, message)
        p, me = info.params, info.client_id
        roster = check_roster(
            msg.roster, p.clients, me, self.keys.public_keys(), self.keys.commitment(info)
        )
        need(len(roster), "clients advertised keys", p, self.NAME)
        session = compute_session_id(p, info.round_index, info.model_digest, msg.roster)
        if not hmac.compare_digest(session, msg.session_id):
            raise SessionMismatchError(
                "session_id", "does not hash the keys, round, model digest and parameters we saw"
            )
        peers = session_graph(roster, session, p)[me]
        mask_private = self.keys.mask_key.private_bytes_raw()
        dealt = deal(session, me, self.keys.seed, mask_private, sorted(peers | {me}), p.threshold)
        ciphertexts, share_secrets, mask_seeds = seal_for_peers(
            p,
            session,
            info.round_index,
            me,
            (self.keys.share_key, self.keys.mask_key),
            {peer: roster[peer] for peer in peers},
            dealt,
        )
        state = MaskedInputState(
            vector=self.vector,
            seed=self.keys.seed,
            session=session,
            roster=tuple(sorted(roster)),
            peers=peers,
            share_secrets=share_secrets,
            mask_seeds=mask_seeds,
            own_shares=(dealt[me].seed_share, dealt[me].key_share),
        )
        reply = ShareKeysReply(
            sender=me,
            round=info.round_index,
            session_id=session,
            ciphertexts=ciphertexts,
            share_digests={h: d.digests for h, d in dealt.items()},
        )
        return Step(state, reply)
