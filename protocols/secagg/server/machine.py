"""The server side of SecAgg / SecAgg+ as a sans-IO state machine.

Feed each client's bytes to ``receive(sender, data)``; when every expected reply is in (see
``ready``) or the transport's deadline passes, call ``advance()`` for the messages of the next
phase. A client that stays silent has dropped. Below the threshold at any phase the server stops,
returns an :class:`Abort` for everyone still in, and ``result()`` raises :class:`AbortedError`.

Who answered each phase is kept by name: ``advertised`` (the roster), ``shared`` (sent their
shares), ``masked`` (their masked input arrived: the survivors) and ``confirmed`` (confirmed the
survivor list). Checking a reply never changes the sum: the masked inputs are added when their
phase closes, and the masks removed in the unmask step.

The server only ever holds masked vectors, never an input. A bad message from one client raises a
typed error and is ignored; the round goes on with the others (the checks: ``checks``). Every
recovered secret is checked against its dealer's commitment (:class:`DealerError` aborts the
round, naming the dealer): a wrong sum is never released. A ``ClientAbort`` is accepted at any
phase: that client is dropped at once and its reason kept in ``client_aborts``.
"""

from __future__ import annotations

import time
from typing import TypeVar, cast

import numpy as np
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from prism_secure.protocols.errors import (
    AbortedError,
    OutOfOrderError,
    ReplayError,
    SessionMismatchError,
    UnexpectedPeerError,
)
from prism_secure.protocols.secagg.bulk import add_all
from prism_secure.protocols.secagg.masking import session_graph, strip_masks
from prism_secure.protocols.secagg.messages import (
    Abort,
    AdvertiseKeys,
    ClientAbort,
    ConsistencyReply,
    MaskedInputReply,
    Message,
    RosterEntry,
    ShareKeysReply,
    UnmaskReply,
    decode,
    encode,
)
from prism_secure.protocols.secagg.params import SessionParams
from prism_secure.protocols.secagg.server import checks, requests
from prism_secure.protocols.secagg.server.phases import PHASES, REPLY, AggregateResult
from prism_secure.protocols.secagg.server.requests import Outgoing, Requested
from prism_secure.protocols.secagg.server.unmasking import recover_all
from prism_secure.protocols.secagg.session import session_id as compute_session_id
from prism_secure.protocols.secagg.vectors import unpack

M = TypeVar("M", bound=Message)


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
        self.aborted: AbortedError | None = None
        self.session_id = b""
        self.client_aborts: dict[int, str] = {}
        self.seconds: dict[str, float] = dict.fromkeys(PHASES, 0.0)
        # who answered each closed phase, by name
        self.advertised: frozenset[int] = frozenset()
        self.shared: frozenset[int] = frozenset()
        self.masked: frozenset[int] = frozenset()
        self.confirmed: frozenset[int] = frozenset()
        self._phase = PHASES[0]  # the open phase, or "done"
        self._last: frozenset[int] = frozenset()  # who answered the last closed phase
        self._replies: dict[int, Message] = {}  # this phase's accepted replies
        self._roster: dict[int, RosterEntry] = {}
        self._graph = session_graph((), b"", params)
        self._digests: dict[int, dict[int, bytes]] = {}  # dealer -> holder -> share digests
        self._gone: set[int] = set()  # clients that sent ClientAbort
        self._probe = X25519PrivateKey.generate()  # for trial exchanges only, never shared
        self._keys_seen: set[bytes] = set()  # public keys advertised so far
        self._sum = np.zeros(params.length, dtype=params.dtype)
        self._requests: dict[int, Requested] = {}
        self._transcript: dict[int, np.ndarray] = {}
        self._result: AggregateResult | None = None

    # ---- public surface ------------------------------------------------------------------------

    @property
    def phase(self) -> str:
        """The open phase (one of ``PHASES``), ``"done"`` or ``"aborted"``."""
        return "aborted" if self.aborted is not None else self._phase

    @property
    def expected(self) -> set[int] | None:
        """Who may reply in the current phase (None: anyone invited, during advertise)."""
        if self._phase == PHASES[0]:
            return None if self.invited is None else self.invited - self._gone
        return set(self._last) - self._gone

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
            if self._phase in self.seconds:
                self.seconds[self._phase] += time.perf_counter() - start

    def advance(self) -> Outgoing:
        """Close the current phase; return the next phase's messages (or aborts, or nothing)."""
        if self.aborted is not None or self._phase not in REPLY:
            raise OutOfOrderError(f"advance() in state {self.phase!r}")
        start = time.perf_counter()
        phase, responders = self._phase, frozenset(self._replies)
        previous = self._last if phase != PHASES[0] else responders
        t = self.params.threshold
        try:
            if len(responders) < t:
                raise AbortedError(f"{len(responders)} clients remain, threshold {t}", phase=phase)
            self._last = responders
            out = self._close(phase, responders)
        except AbortedError as exc:
            self.aborted = exc
            self._transcript.clear()
            reason = Abort(round=self.round, reason=exc.reason[:1000])
            return [(c, encode(reason)) for c in sorted((previous | responders) - self._gone)]
        finally:
            self.seconds[phase] += time.perf_counter() - start
        self._replies = {}
        self._phase = PHASES[PHASES.index(phase) + 1] if phase != PHASES[-1] else "done"
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
        if self._phase == "masked":
            return self.params.packed_size + 256
        return 4096 + 256 * max(1, len(self._roster))

    def _receive(self, sender: int, data: bytes) -> None:
        msg = decode(data, max_size=self._limit())
        if isinstance(msg, ClientAbort):
            self._on_client_abort(sender, msg)
            return
        if self.aborted is not None or self._phase not in REPLY:
            raise OutOfOrderError(f"message from {sender} in state {self.phase!r}")
        expected = REPLY[self._phase]
        if not isinstance(msg, expected):
            if msg.PHASE < expected.PHASE and not msg.FROM_SERVER:
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
        if self._phase != PHASES[0] and getattr(msg, "session_id", None) != self.session_id:
            raise SessionMismatchError("session_id", f"client {sender} is in another session")
        self._check(sender, msg)
        self._replies[sender] = msg

    def _check(self, sender: int, msg: Message) -> None:
        """The phase's own check of one reply (it changes nothing the server holds)."""
        if isinstance(msg, AdvertiseKeys):
            if self.invited is None and len(self._replies) >= self.params.clients:
                raise UnexpectedPeerError("sender", f"the cohort of {self.params.clients} is full")
            self._keys_seen |= checks.check_advertise(msg, self._keys_seen, self._probe)
        elif isinstance(msg, ShareKeysReply):
            checks.check_share_keys(msg, self._graph[sender], sender)
        elif isinstance(msg, MaskedInputReply):
            checks.check_masked_input(msg, self.params)
        elif isinstance(msg, ConsistencyReply):
            holders = self._graph[sender] & self.shared
            checks.check_consistency(msg, holders & self.masked)
        elif isinstance(msg, UnmaskReply):
            requested = self._requests[sender]
            checks.check_unmask(msg, sender, requested, self._digests, self.session_id)

    def _on_client_abort(self, sender: int, msg: ClientAbort) -> None:
        """Drop ``sender`` now, as if it had gone silent before replying in this phase."""
        if msg.sender != sender:
            raise UnexpectedPeerError("sender", f"says {msg.sender}, transport says {sender}")
        if msg.round != self.round:
            raise ReplayError(f"round {msg.round} abort in round {self.round}")
        known = self.invited if self._phase == PHASES[0] else set(self._roster)
        if known is not None and sender not in known:
            raise UnexpectedPeerError("sender", f"client {sender} is not in this round")
        if sender in self.client_aborts:
            raise ReplayError(f"second ClientAbort from {sender}")
        self.client_aborts[sender] = msg.reason
        self._gone.add(sender)
        reply = self._replies.pop(sender, None)  # a masked input not yet added: simply dropped
        if isinstance(reply, AdvertiseKeys):
            self._keys_seen -= {reply.share_key, reply.mask_key}

    # ---- closing phases ------------------------------------------------------------------------

    def _close(self, phase: str, responders: frozenset[int]) -> Outgoing:
        """Record who answered ``phase`` under its name and build the next phase's messages."""
        r, sid = self.round, self.session_id
        if phase == "advertise":
            self.advertised = responders
            return self._fix_roster()
        if phase == "share":
            self.shared = responders
            shares = self._replies_as(ShareKeysReply)
            self._digests.update({c: dict(m.share_digests) for c, m in shares.items()})
            return requests.masked_input_requests(r, sid, responders, shares)
        if phase == "masked":
            self.masked = responders
            self._add_masked_inputs()
            return requests.consistency_requests(r, sid, sorted(responders))
        if phase == "consistency":
            self.confirmed = responders
            sets = (self.shared, self.masked, self.confirmed)
            tags = self._replies_as(ConsistencyReply)
            out, self._requests = requests.unmask_requests(r, sid, self._graph, sets, tags)
            return out
        self._result = self._unmask()
        return []

    def _replies_as(self, kind: type[M]) -> dict[int, M]:
        """This phase's replies, all of type ``kind`` (``_receive`` let no other in)."""
        return cast(dict[int, M], self._replies)

    def _fix_roster(self) -> Outgoing:
        """The roster of everyone who advertised, the session id over it, and its graph."""
        entries = requests.roster(self._replies_as(AdvertiseKeys))
        self._roster = {e.client: e for e in entries}
        self.session_id = compute_session_id(self.params, self.round, self.model_digest, entries)
        self._graph = session_graph(self._roster, self.session_id, self.params)
        return requests.share_keys_requests(self.round, self.session_id, entries)

    def _add_masked_inputs(self) -> None:
        """Sum the masked vectors of the phase that just closed (and keep them, if asked)."""
        p = self.params
        replies = sorted(self._replies_as(MaskedInputReply).items())
        vectors = [unpack(reply.vector, p.bits, p.length, copy=False) for _, reply in replies]
        # One thread: the fresh sum's pages are first touched here, and threads touching them
        # at once were slower (BENCHMARKS.md, the side-by-side against Flower's SecAgg+).
        add_all(self._sum, vectors, workers=1)
        if self.record_transcript:
            for (sender, _), values in zip(replies, vectors, strict=True):
                self._transcript[sender] = np.array(values)  # its own copy, writable

    def _unmask(self) -> AggregateResult:
        """Recover and verify every secret before using any, then strip the masks."""
        survivors, dropped = sorted(self.masked), sorted(self.shared - self.masked)
        replies = self._replies_as(UnmaskReply)
        seeds, keys = recover_all(
            replies, self._roster, survivors, dropped, self.params, self.round
        )
        mask_keys = {c: e.mask_key for c, e in self._roster.items()}
        total = strip_masks(
            self._sum, self.params, self.session_id, self.round, self._graph, mask_keys, seeds, keys
        )
        return AggregateResult(
            total=total.astype(np.int64),
            survivors=survivors,
            transcript=dict(self._transcript) if self.record_transcript else None,
        )
