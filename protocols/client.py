"""The client side of SecAgg / SecAgg+ as a sans-IO state machine.

``start()`` returns the first message; ``receive(bytes)`` returns the replies to send. The client
never touches a socket and never trusts the server: every request is checked against what this
client saw earlier in the round, and a request an honest server would not make raises a
:class:`ProtocolViolation` subclass and aborts the client before anything more is released.

States, in order: ``advertise`` -> ``share`` -> ``masked`` -> ``consistency`` -> ``unmask`` ->
``done``; or ``aborted`` from anywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
import time

import numpy as np
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from prism_secure.protocols import aead, kdf, shamir
from prism_secure.protocols.errors import (
    AbortedError,
    BothSharesRequestedError,
    DroppedAndAliveError,
    InconsistentSurvivorsError,
    MessageError,
    OutOfOrderError,
    ProtocolViolation,
    ReplayError,
    RosterError,
    SelfDroppedError,
    SessionMismatchError,
    ShareDecryptionError,
    UnexpectedPeerError,
)
from prism_secure.protocols.graph import neighbours
from prism_secure.protocols.messages import (
    Abort,
    AdvertiseKeys,
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
from prism_secure.protocols.prg import Expander
from prism_secure.protocols.session import session_id as compute_session_id
from prism_secure.protocols.vectors import check_input, pack

STATES = ("advertise", "share", "masked", "consistency", "unmask", "done", "aborted")
TAG_BYTES = 16
_PRE_ROSTER_LIMIT = 16 << 20


def share_plaintext(sender: int, receiver: int, seed_share: int, key_share: int) -> bytes:
    return (
        struct.pack("<II", sender, receiver)
        + shamir.share_to_bytes(seed_share)
        + shamir.share_to_bytes(key_share)
    )


def share_aad(session: bytes, sender: int, receiver: int) -> bytes:
    return session + struct.pack("<II", sender, receiver)


def survivor_tag(key: bytes, session: bytes, survivors: list[int]) -> bytes:
    """MAC over the survivor list; a peer holding the same key checks we saw the same list."""
    body = session + struct.pack(f"<{len(survivors)}I", *survivors)
    return hmac.new(key, body, hashlib.sha256).digest()[:TAG_BYTES]


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
        self.params = params
        self.round = int(round_index)
        self.model_digest = bytes(model_digest)
        self._input = check_input(vector, params.bits, params.length)
        self._share_sk = X25519PrivateKey.generate()
        self._mask_sk = X25519PrivateKey.generate()
        self._seed = os.urandom(32)  # self-mask seed: fresh every round
        self.state = "advertise"
        self.abort_reason: str | None = None
        self._limit = _PRE_ROSTER_LIMIT
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
                share_key=self._share_sk.public_key().public_bytes_raw(),
                mask_key=self._mask_sk.public_key().public_bytes_raw(),
            )
        )

    def receive(self, data: bytes) -> list[bytes]:
        """Handle one server message; return what to send back (zero or one message)."""
        if self.state == "aborted":
            raise AbortedError(f"client already aborted: {self.abort_reason}")
        message = decode(data, max_size=self._limit)  # MessageError leaves the state as it was
        if isinstance(message, Abort):
            if message.round != self.round:
                raise ReplayError(f"abort for round {message.round}, we are in {self.round}")
            self._abort(f"server aborted: {message.reason}")
            raise AbortedError(message.reason, phase=self.state)
        self._check_order(message)
        try:
            if self._session and message.session_id != self._session:
                raise SessionMismatchError("session_id", "differs from the session we joined")
            reply = self._dispatch(message)
        except (ProtocolViolation, AbortedError) as exc:
            self._abort(str(exc))
            raise
        return [encode(reply)]

    @property
    def session_id(self) -> bytes:
        return self._session

    # ---- checks ------------------------------------------------------------------------------

    def _abort(self, reason: str) -> None:
        self.state = "aborted"
        self.abort_reason = reason
        self._seed = b""
        self._held.clear()
        self._share_secrets.clear()
        self._mask_seeds.clear()

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
        ids = [e.client for e in msg.roster]
        if len(set(ids)) != len(ids):
            raise RosterError("roster", "duplicate client ids")
        keys = [e.share_key for e in msg.roster] + [e.mask_key for e in msg.roster]
        if len(set(keys)) != len(keys):
            raise RosterError("roster", "a public key is advertised twice (Sybil or replay)")
        roster = {e.client: (e.share_key, e.mask_key) for e in msg.roster}
        mine = (
            self._share_sk.public_key().public_bytes_raw(),
            self._mask_sk.public_key().public_bytes_raw(),
        )
        if roster.get(self.id) != mine:
            raise RosterError("roster", "our own public keys are missing or altered")
        self._need(len(roster), "clients advertised keys")
        expected = compute_session_id(self.params, self.round, self.model_digest, msg.roster)
        if not hmac.compare_digest(expected, msg.session_id):
            raise SessionMismatchError(
                "session_id", "does not hash the keys, round, model digest and parameters we saw"
            )
        self._session = expected
        self._roster = roster
        self._limit = 4096 + 256 * len(roster)
        degree = self.params.neighbours if self.params.graph == "sparse" else None
        self._peers = neighbours(list(roster), expected, degree)[self.id]
        holders = sorted(self._peers | {self.id})
        t = self.params.threshold
        seed_shares = shamir.split(
            int.from_bytes(self._seed, "little"), t, [h + 1 for h in holders]
        )
        key_int = int.from_bytes(self._mask_sk.private_bytes_raw(), "little")
        key_shares = shamir.split(key_int, t, [h + 1 for h in holders])
        self._my_seed_share = seed_shares[self.id + 1]
        self._my_key_share = key_shares[self.id + 1]
        ciphertexts = {}
        for peer in sorted(self._peers):
            shared = kdf.exchange(self._share_sk, roster[peer][0])
            self._share_secrets[peer] = shared
            key = kdf.derive(shared, b"share-enc", expected, self.round, self.id, peer)
            plain = share_plaintext(self.id, peer, seed_shares[peer + 1], key_shares[peer + 1])
            ciphertexts[peer] = aead.seal(
                self.params.aead, key, plain, share_aad(expected, self.id, peer)
            )
            # Agree on the pairwise mask seed now, while the vector is not yet needed: the
            # masked-input phase is then only keystream expansion and integer adds.
            mask_shared = kdf.exchange(self._mask_sk, roster[peer][1])
            a, b = kdf.pair(self.id, peer)
            self._mask_seeds[peer] = kdf.derive(mask_shared, b"mask", expected, self.round, a, b)
        self.state = "masked"
        return ShareKeysReply(
            sender=self.id, round=self.round, session_id=expected, ciphertexts=ciphertexts
        )

    def _on_masked_input(self, msg: MaskedInputRequest) -> MaskedInputReply:
        senders = set(msg.ciphertexts)
        stray = senders - self._peers
        if stray:
            raise UnexpectedPeerError("ciphertexts", f"not our neighbours: {sorted(stray)[:5]}")
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
            if struct.unpack("<II", plain[:8]) != (peer, self.id):
                raise ShareDecryptionError(f"ciphertexts[{peer}]", "ids inside do not match")
            try:
                seed_share = shamir.share_from_bytes(plain[8:74])
                key_share = shamir.share_from_bytes(plain[74:140])
            except ValueError as exc:
                raise ShareDecryptionError(f"ciphertexts[{peer}]", str(exc)) from None
            held[peer] = (seed_share, key_share)
        held[self.id] = (self._my_seed_share, self._my_key_share)
        self._held = held

        start = time.perf_counter()
        p = self.params
        expander = Expander(p.length, p.dtype, p.prg)
        masked = self._input  # our own copy, masked in place
        masked += expander(self._seed)
        for peer in sorted(senders):
            stream = expander(self._mask_seeds[peer])
            if self.id < peer:
                masked += stream
            else:
                masked -= stream
        self._mask_seeds.clear()  # a pairwise seed masks exactly one vector
        if p.bits < p.dtype.itemsize * 8:
            masked &= np.asarray(p.modulus_mask, dtype=p.dtype)
        self._input = np.empty(0, dtype=p.dtype)
        vector = pack(masked, p.bits)
        self.masking_seconds = time.perf_counter() - start
        self.state = "consistency"
        return MaskedInputReply(
            sender=self.id, round=self.round, session_id=self._session, vector=vector
        )

    def _on_consistency(self, msg: ConsistencyRequest) -> ConsistencyReply:
        survivors = list(msg.survivors)
        if survivors != sorted(set(survivors)):
            raise InconsistentSurvivorsError("survivors", "must be sorted and unique")
        if self.id not in survivors:
            raise InconsistentSurvivorsError("survivors", "our own masked input is listed missing")
        unknown = set(survivors) - set(self._roster)
        if unknown:
            raise UnexpectedPeerError("survivors", f"never advertised keys: {sorted(unknown)[:5]}")
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
        survivors, dropped = set(msg.survivors), set(msg.dropped)
        seed_for, key_for = set(msg.seed_for), set(msg.key_for)
        if self.id in dropped:
            raise SelfDroppedError("dropped", "this client is listed as dropped")
        both = survivors & dropped
        if both:
            raise DroppedAndAliveError("dropped", f"also listed alive: {sorted(both)[:5]}")
        twice = seed_for & key_for
        if twice:
            raise BothSharesRequestedError("key_for", f"both shares asked of {sorted(twice)[:5]}")
        holders = set(self._held)
        alive_then = set(self._survivors)
        if survivors != holders & alive_then or dropped != holders - alive_then:
            raise InconsistentSurvivorsError(
                "survivors", "contradicts the survivor list of the consistency round"
            )
        if not seed_for <= survivors or not key_for <= dropped:
            raise InconsistentSurvivorsError("seed_for", "requests do not match the lists")
        stray = set(msg.tags) - (holders & alive_then) | ({self.id} & set(msg.tags))
        if stray:
            raise UnexpectedPeerError("tags", f"tags from unexpected peers {sorted(stray)[:5]}")
        for peer, tag in msg.tags.items():
            key = kdf.derive(
                self._share_secrets[peer], b"consistency", self._session, self.round, peer, self.id
            )
            if not hmac.compare_digest(tag, survivor_tag(key, self._session, self._survivors)):
                raise InconsistentSurvivorsError(
                    f"tags[{peer}]", "peer saw a different survivor list (or a forged tag)"
                )
        self._need(len(msg.tags) + 1, "clients confirmed the survivor list")
        seed_shares = {i: shamir.share_to_bytes(self._held[i][0]) for i in sorted(seed_for)}
        key_shares = {i: shamir.share_to_bytes(self._held[i][1]) for i in sorted(key_for)}
        self.state = "done"
        self._held.clear()
        return UnmaskReply(
            sender=self.id,
            round=self.round,
            session_id=self._session,
            seed_shares=seed_shares,
            key_shares=key_shares,
        )


__all__ = ["STATES", "SecAggClient", "MessageError"]
