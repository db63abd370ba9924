"""The client side of SecAgg / SecAgg+ as a sans-IO state machine.

``start()`` returns the first message; ``receive(bytes)`` returns the replies to send. The client
never touches a socket and never trusts the server: every request is checked against what this
client saw earlier in the round, and a request an honest server would not make raises a
:class:`ProtocolViolation` subclass and aborts the client before anything more is released.

States, in order: ``advertise`` -> ``share`` -> ``masked`` -> ``consistency`` -> ``unmask`` ->
``done``; or ``aborted`` from anywhere. In both end states the client has wiped its self-mask
seed, private keys, pairwise secrets and the shares it held. A client that aborts on its own
(a refused message) has a ``ClientAbort`` for the server: :meth:`SecAggClient.abort_message`,
also attached to the raised error as ``abort_message``.
"""

from __future__ import annotations

import hmac
import os
import time
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from prism_secure.protocols import aead, kdf, shamir
from prism_secure.protocols.client_checks import (
    check_roster,
    check_survivors,
    check_unmask_request,
)
from prism_secure.protocols.commitments import seed_commitment
from prism_secure.protocols.dealing import deal, open_plaintext, seal_for_peers, share_aad
from prism_secure.protocols.errors import (
    AbortedError,
    InconsistentSurvivorsError,
    MessageError,
    OutOfOrderError,
    ProtocolViolation,
    ReplayError,
    SessionMismatchError,
    UnexpectedPeerError,
)
from prism_secure.protocols.graph import neighbours_of
from prism_secure.protocols.masking import TAG_BYTES, masked_vector, survivor_tag
from prism_secure.protocols.messages import (
    Abort,
    AdvertiseKeys,
    ClientAbort,
    ConsistencyReply,
    ConsistencyRequest,
    MaskedInputReply,
    MaskedInputRequest,
    Message,
    ShareKeysReply,
    ShareKeysRequest,
    UnmaskReply,
    UnmaskRequest,
    decode,
    encode,
)
from prism_secure.protocols.params import SessionParams
from prism_secure.protocols.session import session_id as compute_session_id
from prism_secure.protocols.vectors import check_input

STATES = ("advertise", "share", "masked", "consistency", "unmask", "done", "aborted")
# The largest roster entry on the wire: a 5-byte id, then three 32-byte fields with their lengths.
ROSTER_ENTRY_MAX = 5 + 3 * 33
_REASON_CHARS = 1000


def pre_roster_limit(clients: int) -> int:
    """The largest ShareKeysRequest a cohort of ``clients`` can produce, with header slack."""
    return 256 + ROSTER_ENTRY_MAX * clients


class SecAggClient:
    """One client's part in one round.

    ``vector`` holds integers in ``[0, 2^bits)``; ``model_digest`` is the digest of the global
    model this client received this round (it is bound into the session id).
    """

    def __init__(
        self,
        client_id: int,
        vector: np.ndarray,
        params: SessionParams,
        *,
        round_index: int,
        model_digest: bytes,
    ) -> None:
        self.id = int(client_id)
        if not 0 <= self.id < 2**32:
            raise ValueError(f"client id must lie in [0, 2^32), got {client_id}")
        self.params = params
        self.round = int(round_index)
        self.model_digest = bytes(model_digest)
        self._input = check_input(vector, params.bits, params.length)
        self._share_sk: X25519PrivateKey | None = X25519PrivateKey.generate()
        self._mask_sk: X25519PrivateKey | None = X25519PrivateKey.generate()
        self._seed = os.urandom(32)  # self-mask seed: fresh every round
        self.state = "advertise"
        self.abort_reason: str | None = None
        self._own_abort = False
        self._limit = pre_roster_limit(params.clients)
        self._session: bytes = b""
        self._roster: dict[int, tuple[bytes, bytes]] = {}
        self._peers: frozenset[int] = frozenset()
        self._share_secrets: dict[int, bytes] = {}
        self._mask_seeds: dict[int, bytes] = {}  # peer -> pairwise mask seed, this session only
        self.masking_seconds = 0.0  # building the masked vector: the keystream-bound part
        self._my_seed_share = 0
        self._my_key_share = 0
        self._held: dict[int, tuple[int, int]] = {}  # peer -> (seed share, key share)
        self._survivors: list[int] = []
        self._public_keys = (
            self._share_sk.public_key().public_bytes_raw(),
            self._mask_sk.public_key().public_bytes_raw(),
        )
        self._commitment = seed_commitment(self._seed, self.id, self.round)

    # ---- public surface --------------------------------------------------------------------

    def start(self) -> bytes:
        """The AdvertiseKeys message: our two fresh public keys."""
        if self.state != "advertise":
            raise OutOfOrderError("start() may be called once, before any message")
        self.state = "share"
        return encode(
            AdvertiseKeys(
                sender=self.id,
                round=self.round,
                share_key=self._public_keys[0],
                mask_key=self._public_keys[1],
                seed_commitment=self._commitment,
            )
        )

    def receive(self, data: bytes) -> list[bytes]:
        """Handle one server message; return what to send back (zero or one message)."""
        if self.state == "aborted":
            raise AbortedError(f"client already aborted: {self.abort_reason}")
        if self.state == "done":
            raise ReplayError("the round is complete; nothing more is accepted")
        message = decode(data, max_size=self._limit)  # MessageError leaves the state as it was
        if isinstance(message, Abort):
            if message.round != self.round:
                raise ReplayError(f"abort for round {message.round}, we are in {self.round}")
            phase = self.state
            self._abort(f"server aborted: {message.reason}")
            raise AbortedError(message.reason, phase=phase)
        self._check_order(message)
        try:
            if self._session and message.session_id != self._session:
                raise SessionMismatchError("session_id", "differs from the session we joined")
            reply = self._dispatch(message)
        except (ProtocolViolation, AbortedError) as exc:
            self._abort(str(exc), own=True)
            exc.abort_message = self.abort_message()
            raise
        return [encode(reply)]

    def abort_message(self) -> bytes | None:
        """The ``ClientAbort`` to send the server after this client refused a message, else None."""
        if self.state != "aborted" or not self._own_abort:
            return None
        reason = (self.abort_reason or "aborted")[:_REASON_CHARS]
        return encode(ClientAbort(sender=self.id, round=self.round, reason=reason))

    @property
    def session_id(self) -> bytes:
        return self._session

    @property
    def holds_secrets(self) -> bool:
        """Whether any secret of this round is still in memory (False once done or aborted)."""
        return any(self._secrets().values())

    # ---- checks ------------------------------------------------------------------------------

    def _secrets(self) -> dict[str, Any]:
        return {
            "seed": self._seed,
            "share_key": self._share_sk,
            "mask_key": self._mask_sk,
            "pairwise": self._share_secrets or self._mask_seeds,
            "held": self._held or self._my_seed_share or self._my_key_share,
        }

    def _wipe(self) -> None:
        """Forget every secret of the round (Python cannot zero memory; drop the references)."""
        self._seed = b""
        self._share_sk = self._mask_sk = None
        self._share_secrets.clear()
        self._mask_seeds.clear()
        self._held.clear()
        self._my_seed_share = self._my_key_share = 0
        self._input = np.empty(0, dtype=self.params.dtype)

    def _abort(self, reason: str, *, own: bool = False) -> None:
        self.state = "aborted"
        self.abort_reason = reason
        self._own_abort = own
        self._wipe()

    def _check_order(self, message: Message) -> None:
        if not message.FROM_SERVER:
            raise OutOfOrderError(f"{type(message).__name__} is a client message")
        if message.round != self.round:
            raise ReplayError(f"message of round {message.round}; this is round {self.round}")
        expected = STATES.index(self.state)  # phase number of the request we wait for
        if self.state == "advertise":
            raise OutOfOrderError("call start() before receiving")
        if expected > message.PHASE:
            raise ReplayError(f"{type(message).__name__} replayed in state {self.state!r}")
        if expected < message.PHASE:
            raise OutOfOrderError(f"{type(message).__name__} arrived in state {self.state!r}")

    def _dispatch(self, message: Message) -> Message:
        if isinstance(message, ShareKeysRequest):
            return self._on_share_keys(message)
        if isinstance(message, MaskedInputRequest):
            return self._on_masked_input(message)
        if isinstance(message, ConsistencyRequest):
            return self._on_consistency(message)
        if isinstance(message, UnmaskRequest):
            return self._on_unmask(message)
        raise OutOfOrderError(f"unexpected {type(message).__name__}")  # pragma: no cover

    def _need(self, count: int, what: str) -> None:
        if count < self.params.threshold:
            raise AbortedError(
                f"only {count} {what}, threshold is {self.params.threshold}", phase=self.state
            )

    # ---- phases --------------------------------------------------------------------------------

    def _on_share_keys(self, msg: ShareKeysRequest) -> ShareKeysReply:
        roster = check_roster(
            msg.roster, self.params.clients, self.id, self._public_keys, self._commitment
        )
        self._need(len(roster), "clients advertised keys")
        expected = compute_session_id(self.params, self.round, self.model_digest, msg.roster)
        if not hmac.compare_digest(expected, msg.session_id):
            raise SessionMismatchError(
                "session_id", "does not hash the keys, round, model digest and parameters we saw"
            )
        self._session = expected
        self._roster = roster
        self._limit = 4096 + 256 * len(roster)
        self._peers = neighbours_of(self.id, roster, expected, self.params.degree)
        assert self._share_sk is not None and self._mask_sk is not None
        dealt = deal(
            expected,
            self.id,
            self._seed,
            self._mask_sk.private_bytes_raw(),
            sorted(self._peers | {self.id}),
            self.params.threshold,
        )
        self._my_seed_share, self._my_key_share = (
            dealt[self.id].seed_share,
            dealt[self.id].key_share,
        )
        ciphertexts, self._share_secrets, self._mask_seeds = seal_for_peers(
            self.params,
            expected,
            self.round,
            self.id,
            (self._share_sk, self._mask_sk),
            {peer: roster[peer] for peer in self._peers},
            dealt,
        )
        self.state = "masked"
        return ShareKeysReply(
            sender=self.id,
            round=self.round,
            session_id=expected,
            ciphertexts=ciphertexts,
            share_digests={h: d.digests for h, d in dealt.items()},
        )

    def _on_masked_input(self, msg: MaskedInputRequest) -> MaskedInputReply:
        senders = set(msg.ciphertexts)
        stray = senders - self._peers
        if stray:
            raise UnexpectedPeerError("ciphertexts", f"not our neighbours: {sorted(stray)[:5]}")
        if set(msg.share_digests) != senders:
            raise UnexpectedPeerError(
                "share_digests", "must cover exactly the ciphertexts' senders"
            )
        self._need(len(senders) + 1, "clients completed key sharing")
        held: dict[int, tuple[int, int]] = {}
        for peer in sorted(senders):
            shared = self._share_secrets[peer]
            key = kdf.derive(shared, b"share-enc", self._session, self.round, peer, self.id)
            plain = aead.open_sealed(
                self.params.aead,
                key,
                msg.ciphertexts[peer],
                share_aad(self._session, peer, self.id),
                field=f"ciphertexts[{peer}]",
            )
            held[peer] = open_plaintext(
                plain, self._session, peer, self.id, msg.share_digests[peer]
            )
        held[self.id] = (self._my_seed_share, self._my_key_share)
        self._held = held

        start = time.perf_counter()
        pairwise = {peer: self._mask_seeds[peer] for peer in senders}  # who shared keys with us
        vector = masked_vector(self._input, self._seed, pairwise, self.id, self.params)
        self._mask_seeds.clear()  # a pairwise seed masks exactly one vector
        self._input = np.empty(0, dtype=self.params.dtype)
        self.masking_seconds = time.perf_counter() - start
        self.state = "consistency"
        return MaskedInputReply(
            sender=self.id, round=self.round, session_id=self._session, vector=vector
        )

    def _on_consistency(self, msg: ConsistencyRequest) -> ConsistencyReply:
        survivors = list(msg.survivors)
        check_survivors(survivors, self.id, self._roster)
        self._need(len(survivors), "masked inputs reached the server")
        self._survivors = survivors
        tags = {}
        for peer in sorted(set(survivors) & set(self._held) - {self.id}):
            key = kdf.derive(
                self._share_secrets[peer], b"consistency", self._session, self.round, self.id, peer
            )
            tags[peer] = survivor_tag(key, self._session, survivors)
        self.state = "unmask"
        return ConsistencyReply(
            sender=self.id, round=self.round, session_id=self._session, tags=tags
        )

    def _on_unmask(self, msg: UnmaskRequest) -> UnmaskReply:
        check_unmask_request(msg, self.id, set(self._held), set(self._survivors))
        for peer, tag in msg.tags.items():
            key = kdf.derive(
                self._share_secrets[peer], b"consistency", self._session, self.round, peer, self.id
            )
            if not hmac.compare_digest(tag, survivor_tag(key, self._session, self._survivors)):
                raise InconsistentSurvivorsError(
                    f"tags[{peer}]", "peer saw a different survivor list (or a forged tag)"
                )
        self._need(len(msg.tags) + 1, "clients confirmed the survivor list")
        seed_shares = {i: shamir.share_to_bytes(self._held[i][0]) for i in sorted(msg.seed_for)}
        key_shares = {i: shamir.share_to_bytes(self._held[i][1]) for i in sorted(msg.key_for)}
        self.state = "done"
        self._wipe()
        return UnmaskReply(
            sender=self.id,
            round=self.round,
            session_id=self._session,
            seed_shares=seed_shares,
            key_shares=key_shares,
        )


__all__ = [
    "STATES",
    "MessageError",
    "SecAggClient",
    "pre_roster_limit",
    "survivor_tag",
    "TAG_BYTES",
]
