"""The server side of SecAgg / SecAgg+ as a sans-IO state machine.

Feed each client's bytes to ``receive(sender, data)``; when every expected reply is in (see
``ready``) or the transport's deadline passes, call ``advance()`` for the messages of the next
phase. A client that stays silent has dropped. Below the threshold at any phase the server stops,
returns an :class:`Abort` for everyone still in, and ``result()`` raises :class:`AbortedError`.

The server only ever holds masked vectors; it removes masks with shares, never sees an input.
A bad message from one client raises a typed error and that client's reply is ignored; the round
goes on with the others. Every advertised key is checked (:class:`InvalidPublicKeyError`), every
share in an UnmaskReply is checked against its dealer's digest (:class:`BadShareError` names
the sender), and every recovered secret against its dealer's commitment (:class:`DealerError`
aborts the round, naming the dealer): a wrong sum is never released. A ``ClientAbort`` is
accepted at any phase: that client is dropped at once and its reason kept in ``client_aborts``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from prism_secure.protocols import shamir
from prism_secure.protocols.commitments import DIGEST_BYTES, KEY, SEED, share_digest
from prism_secure.protocols.errors import (
    AbortedError,
    BadShareError,
    MessageError,
    OutOfOrderError,
    ReplayError,
    RosterError,
    SessionMismatchError,
    UnexpectedPeerError,
    VectorLengthError,
)
from prism_secure.protocols.graph import Graph
from prism_secure.protocols.keys import check_public_key
from prism_secure.protocols.messages import (
    Abort,
    AdvertiseKeys,
    ClientAbort,
    ConsistencyReply,
    ConsistencyRequest,
    MaskedInputReply,
    MaskedInputRequest,
    Message,
    RosterEntry,
    ShareKeysReply,
    ShareKeysRequest,
    UnmaskReply,
    UnmaskRequest,
    decode,
    encode,
)
from prism_secure.protocols.params import SessionParams
from prism_secure.protocols.session import session_id as compute_session_id
from prism_secure.protocols.unmasking import recover_all, strip_masks
from prism_secure.protocols.vectors import unpack

PHASES = ("advertise", "share", "masked", "consistency", "unmask")
_EXPECTED = (AdvertiseKeys, ShareKeysReply, MaskedInputReply, ConsistencyReply, UnmaskReply)

Outgoing = list[tuple[int, bytes]]


@dataclass
class AggregateResult:
    """What the server learns: the sum over ``survivors`` (mod 2^bits, as int64), and who."""

    total: np.ndarray
    survivors: list[int]
    transcript: dict[int, np.ndarray] | None = None
    seconds: dict[str, float] = field(default_factory=dict)


class SecAggServer:
    """The server's part in one round.

    ``clients`` is the cohort invited this round (``None`` accepts the first ``params.clients``
    ids that advertise keys; never more than the declared cohort size).
    ``record_transcript`` keeps each masked vector for audits: exactly what the server sees.
    """

    def __init__(
        self,
        params: SessionParams,
        *,
        round_index: int,
        model_digest: bytes,
        clients: list[int] | None = None,
        record_transcript: bool = False,
    ) -> None:
        self.params = params
        self.round = int(round_index)
        self.model_digest = bytes(model_digest)
        self.invited = None if clients is None else set(clients)
        if self.invited is not None and len(self.invited) > params.clients:
            raise ValueError(
                f"{len(self.invited)} clients invited; the session declares {params.clients}"
            )
        self.record_transcript = record_transcript
        self.phase_index = 0
        self.aborted: AbortedError | None = None
        self.session_id = b""
        self._replies: dict[int, Message] = {}
        self._alive: list[set[int]] = []  # responders of each closed phase
        self._roster: dict[int, RosterEntry] = {}
        self._graph = Graph((), b"", None)
        self._digests: dict[int, dict[int, bytes]] = {}  # dealer -> holder -> share digests
        self._gone: set[int] = set()  # clients that sent ClientAbort
        self._probe = X25519PrivateKey.generate()  # for trial exchanges only, never shared
        self._keys_seen: set[bytes] = set()  # public keys advertised so far
        self.client_aborts: dict[int, str] = {}
        self._sum = np.zeros(params.length, dtype=params.dtype)
        self._survivors: list[int] = []
        self._requests: dict[int, tuple[frozenset[int], frozenset[int]]] = {}
        self._transcript: dict[int, np.ndarray] = {}
        self._result: AggregateResult | None = None
        self.seconds: dict[str, float] = dict.fromkeys(PHASES, 0.0)

    # ---- public surface ------------------------------------------------------------------------

    @property
    def phase(self) -> str:
        if self.aborted is not None:
            return "aborted"
        return PHASES[self.phase_index] if self.phase_index < len(PHASES) else "done"

    @property
    def expected(self) -> set[int] | None:
        """Who may reply in the current phase (None: anyone invited, during advertise)."""
        if self.phase_index == 0:
            return None if self.invited is None else self.invited - self._gone
        return (self._alive[-1] if self._alive else set()) - self._gone

    @property
    def ready(self) -> bool:
        """Every client that may reply in this phase has replied."""
        exp = self.expected
        return exp is not None and exp <= set(self._replies)

    def receive(self, sender: int, data: bytes) -> None:
        """Validate and store one client's reply; raise a typed error and ignore it if bad."""
        start = time.perf_counter()
        try:
            self._receive(sender, data)
        finally:
            if self.phase_index < len(PHASES):
                self.seconds[PHASES[self.phase_index]] += time.perf_counter() - start

    def advance(self) -> Outgoing:
        """Close the current phase; return the next phase's messages (or aborts, or nothing)."""
        if self.aborted is not None or self.phase_index >= len(PHASES):
            raise OutOfOrderError(f"advance() in state {self.phase!r}")
        start = time.perf_counter()
        phase = PHASES[self.phase_index]
        responders = set(self._replies)
        previous = self._alive[-1] if self._alive else responders
        t = self.params.threshold
        try:
            if len(responders) < t:
                raise AbortedError(f"{len(responders)} clients remain, threshold {t}", phase=phase)
            self._alive.append(responders)
            out = getattr(self, f"_close_{phase}")()
        except AbortedError as exc:
            self.aborted = exc
            self._transcript.clear()
            reason = Abort(round=self.round, reason=exc.reason[:1000])
            return [(c, encode(reason)) for c in sorted((previous | responders) - self._gone)]
        finally:
            self.seconds[phase] += time.perf_counter() - start
        self._replies = {}
        self.phase_index += 1
        return out

    def result(self) -> AggregateResult:
        """The exact sum over survivors; raises :class:`AbortedError` if the round stopped."""
        if self.aborted is not None:
            raise self.aborted
        if self._result is None:
            raise OutOfOrderError(f"no result in state {self.phase!r}")
        return self._result

    # ---- receiving -----------------------------------------------------------------------------

    def _limit(self) -> int:
        if self.phase_index == 2:
            return self.params.packed_size + 256
        return 4096 + 256 * max(1, len(self._roster))

    def _receive(self, sender: int, data: bytes) -> None:
        msg = decode(data, max_size=self._limit())
        if isinstance(msg, ClientAbort):
            self._on_client_abort(sender, msg)
            return
        if self.aborted is not None or self.phase_index >= len(PHASES):
            raise OutOfOrderError(f"message from {sender} in state {self.phase!r}")
        expected = _EXPECTED[self.phase_index]
        if not isinstance(msg, expected):
            if self.phase_index > msg.PHASE and not msg.FROM_SERVER:
                raise ReplayError(f"{type(msg).__name__} from {sender} after its phase")
            raise OutOfOrderError(f"{type(msg).__name__} from {sender} in {self.phase!r}")
        if msg.sender != sender:
            raise UnexpectedPeerError("sender", f"says {msg.sender}, transport says {sender}")
        if msg.round != self.round:
            raise ReplayError(f"round {msg.round} message in round {self.round}")
        allowed = self.expected
        if (allowed is not None and sender not in allowed) or sender in self._gone:
            raise UnexpectedPeerError("sender", f"client {sender} is not in this phase")
        if sender in self._replies:
            raise ReplayError(f"second {type(msg).__name__} from {sender}")
        if self.phase_index > 0 and msg.session_id != self.session_id:
            raise SessionMismatchError("session_id", f"client {sender} is in another session")
        getattr(self, f"_check_{PHASES[self.phase_index]}")(sender, msg)
        self._replies[sender] = msg

    def _on_client_abort(self, sender: int, msg: ClientAbort) -> None:
        """Drop ``sender`` now, as if it had gone silent before replying in this phase."""
        if msg.sender != sender:
            raise UnexpectedPeerError("sender", f"says {msg.sender}, transport says {sender}")
        if msg.round != self.round:
            raise ReplayError(f"round {msg.round} abort in round {self.round}")
        known = self.invited if self.phase_index == 0 else set(self._roster)
        if known is not None and sender not in known:
            raise UnexpectedPeerError("sender", f"client {sender} is not in this round")
        if sender in self.client_aborts:
            raise ReplayError(f"second ClientAbort from {sender}")
        self.client_aborts[sender] = msg.reason
        self._gone.add(sender)
        reply = self._replies.pop(sender, None)
        if isinstance(reply, AdvertiseKeys):
            self._keys_seen -= {reply.share_key, reply.mask_key}
        if isinstance(reply, MaskedInputReply):  # already summed: take it out again
            p = self.params
            self._sum -= unpack(reply.vector, p.bits, p.length)
            self._transcript.pop(sender, None)

    def _check_advertise(self, sender: int, msg: AdvertiseKeys) -> None:
        if self.invited is None and len(self._replies) >= self.params.clients:
            raise UnexpectedPeerError("sender", f"the cohort of {self.params.clients} is full")
        check_public_key(msg.share_key, "share_key", trial=self._probe)
        check_public_key(msg.mask_key, "mask_key", trial=self._probe)
        keys = {msg.share_key, msg.mask_key}
        if len(keys) == 1 or keys & self._keys_seen:
            raise RosterError("share_key", "a public key already advertised (Sybil or replay)")
        self._keys_seen |= keys  # the last check: the reply is stored right after

    def _check_share(self, sender: int, msg: ShareKeysReply) -> None:
        if set(msg.ciphertexts) != self._graph[sender]:
            raise UnexpectedPeerError("ciphertexts", "must address exactly the sender's neighbours")
        if set(msg.share_digests) != self._graph[sender] | {sender}:
            raise UnexpectedPeerError("share_digests", "must cover the sender's neighbours and it")

    def _check_masked(self, sender: int, msg: MaskedInputReply) -> None:
        p = self.params
        if len(msg.vector) != p.packed_size:
            raise VectorLengthError("vector", f"{len(msg.vector)} bytes, expected {p.packed_size}")
        values = unpack(msg.vector, p.bits, p.length)
        self._sum += values
        if self.record_transcript:
            self._transcript[sender] = values

    def _check_consistency(self, sender: int, msg: ConsistencyReply) -> None:
        holders = self._graph[sender] & self._alive[1]
        if set(msg.tags) != holders & self._alive[2]:
            raise UnexpectedPeerError("tags", "must cover exactly the surviving neighbours")

    def _check_unmask(self, sender: int, msg: UnmaskReply) -> None:
        seed_for, key_for = self._requests[sender]
        if set(msg.seed_shares) != seed_for or set(msg.key_shares) != key_for:
            raise UnexpectedPeerError("seed_shares", "shares differ from those requested")
        for share in (*msg.seed_shares.values(), *msg.key_shares.values()):
            if int.from_bytes(share, "little") >= shamir.PRIME:
                raise MessageError("shares", "share out of field range")
        for kind, shares, half in ((SEED, msg.seed_shares, 0), (KEY, msg.key_shares, 1)):
            for owner, share in shares.items():
                want = self._digests[owner][sender][half * DIGEST_BYTES : (half + 1) * DIGEST_BYTES]
                if share_digest(self.session_id, owner, sender, kind, share) != want:
                    raise BadShareError(sender, owner, kind.decode())

    # ---- closing phases ------------------------------------------------------------------------

    def _close_advertise(self) -> Outgoing:
        entries = [
            RosterEntry(
                client=c,
                share_key=m.share_key,
                mask_key=m.mask_key,
                seed_commitment=m.seed_commitment,
            )
            for c, m in sorted(self._replies.items())
        ]
        self._roster = {e.client: e for e in entries}
        self.session_id = compute_session_id(self.params, self.round, self.model_digest, entries)
        self._graph = Graph(self._roster, self.session_id, self.params.degree)
        data = encode(
            ShareKeysRequest(round=self.round, session_id=self.session_id, roster=entries)
        )
        return [(c, data) for c in sorted(self._roster)]

    def _close_share(self) -> Outgoing:
        u2 = self._alive[1]
        inbox: dict[int, dict[int, bytes]] = {c: {} for c in u2}
        digests: dict[int, dict[int, bytes]] = {c: {} for c in u2}
        for sender in sorted(u2):
            reply: ShareKeysReply = self._replies[sender]  # type: ignore[assignment]
            self._digests[sender] = dict(reply.share_digests)
            for receiver, ct in reply.ciphertexts.items():
                if receiver in u2:
                    inbox[receiver][sender] = ct
                    digests[receiver][sender] = reply.share_digests[receiver]
        out = []
        for c in sorted(u2):
            request = MaskedInputRequest(
                round=self.round,
                session_id=self.session_id,
                ciphertexts=inbox[c],
                share_digests=digests[c],
            )
            out.append((c, encode(request)))
        return out

    def _close_masked(self) -> Outgoing:
        self._survivors = sorted(self._alive[2])
        data = encode(
            ConsistencyRequest(
                round=self.round, session_id=self.session_id, survivors=self._survivors
            )
        )
        return [(c, data) for c in self._survivors]

    def _close_consistency(self) -> Outgoing:
        u2, u3, u4 = self._alive[1], self._alive[2], self._alive[3]
        out = []
        for c in sorted(u4):
            holders = (self._graph[c] & u2) | {c}
            survivors = sorted(holders & u3)
            dropped = sorted(holders - u3)
            tags = {peer: self._replies[peer].tags[c] for peer in sorted(holders & u4 - {c})}
            self._requests[c] = (frozenset(survivors), frozenset(dropped))
            out.append(
                (
                    c,
                    encode(
                        UnmaskRequest(
                            round=self.round,
                            session_id=self.session_id,
                            survivors=survivors,
                            dropped=dropped,
                            seed_for=survivors,
                            key_for=dropped,
                            tags=tags,
                        )
                    ),
                )
            )
        return out

    def _close_unmask(self) -> Outgoing:
        u2, u3 = self._alive[1], self._alive[2]
        replies: dict[int, UnmaskReply] = self._replies  # type: ignore[assignment]
        # Recover and verify every secret before using any: nothing partial is computed.
        seeds, keys = recover_all(
            replies, self._roster, sorted(u3), sorted(u2 - u3), self.params, self.round
        )
        total = strip_masks(
            self._sum,
            self.params,
            self.session_id,
            self.round,
            self._graph,
            self._roster,
            seeds,
            keys,
        )
        self._result = AggregateResult(
            total=total.astype(np.int64),
            survivors=sorted(u3),
            transcript=dict(self._transcript) if self.record_transcript else None,
        )
        return []
