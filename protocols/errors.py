"""Typed errors of every secure sum (SecAgg here; the homomorphic path adds its own in ``he``).

Four families for what a peer sends, because callers react differently to each:

- :class:`MessageError`: bytes that do not decode to a valid message (truncated, oversized,
  unknown version, a field out of range). The message is dropped; the state machine is unchanged.
- :class:`ReplayError` / :class:`OutOfOrderError`: a well-formed message at the wrong time. Also
  dropped without changing state, so a duplicated packet cannot kill a round.
- :class:`ProtocolViolation` and its subclasses: a well-formed, timely message that an honest
  peer would never send. A client refuses it and aborts; nothing further is released. The server
  refuses that one reply and goes on with the others.
- :class:`AbortedError`: too few parties remain (below the threshold t), a dealer's shares do not
  reconstruct what it committed to (:class:`DealerError`), or a peer told us to stop.

And two for what the caller hands in: :class:`ParameterError` (no parameters meet the rule and
the stall bound asked for) and :class:`StateError` (a saved client state that does not load).

A client that refuses a message aborts; the error it raises carries ``abort_message``, the encoded
``ClientAbort`` to send the server so that the server drops it at once instead of waiting.
"""

from __future__ import annotations

from prism_secure.errors import PrismError


class SecAggError(PrismError):
    """Base class of every error the secure-aggregation protocol raises on purpose."""

    abort_message: bytes | None = None  # set by a client that aborted: send it to the server


class AbortedError(SecAggError):
    """The round stopped: fewer than t parties remain, or another party aborted.

    Nothing partial is released when this is raised: no sum, no shares beyond those already sent.
    """

    def __init__(self, reason: str, *, phase: str | None = None) -> None:
        self.reason = reason
        self.phase = phase
        super().__init__(f"secure aggregation aborted{f' in {phase}' if phase else ''}: {reason}")


class DealerError(AbortedError):
    """A dealer's verified shares do not reconstruct the secret it committed to: ``dealer``."""

    def __init__(self, dealer: int, kind: str) -> None:
        self.dealer = dealer
        self.kind = kind
        super().__init__(
            f"client {dealer} dealt inconsistent {kind} shares (they do not reconstruct its "
            "commitment); nothing is released",
            phase="unmask",
        )


class ParameterError(SecAggError, ValueError):
    """No threshold and graph meet the security rule and the stall bound asked for."""


class FieldError(SecAggError):
    """An error about one part of what was received; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.detail = message
        super().__init__(f"{field}: {message}")


class MessageError(FieldError, ValueError):
    """Bytes that are not a valid message; ``field`` names the offending part."""


class StateError(FieldError, ValueError):
    """A saved client state that is corrupt, truncated, of another version, or inconsistent;
    ``field`` names the offending part. Nothing was restored."""


class ReplayError(SecAggError):
    """A message of a phase (or round) this party has already left."""


class OutOfOrderError(SecAggError):
    """A message of a phase this party has not reached yet, or of the wrong direction."""


class ProtocolViolation(FieldError):
    """A message an honest peer would never send; the receiving client aborts."""


class SessionMismatchError(ProtocolViolation):
    """The session id differs from the one this client computed (keys, round or model differ)."""


class RosterError(ProtocolViolation):
    """The advertised key list is malformed: duplicate ids or keys, or our own keys altered."""


class UnexpectedPeerError(ProtocolViolation):
    """A peer appears that the session's graph or an earlier phase does not allow."""


class ShareDecryptionError(ProtocolViolation):
    """An encrypted share failed authentication: tampered, misrouted, or another session's."""


class VectorLengthError(ProtocolViolation, ValueError):
    """A vector's length or value range differs from the session parameters."""


class BothSharesRequestedError(ProtocolViolation):
    """The server asked for both the self-mask share and the mask-key share of one peer."""


class DroppedAndAliveError(ProtocolViolation):
    """The server listed a client as both dropped and surviving."""


class SelfDroppedError(ProtocolViolation):
    """The server listed this very client as dropped, to learn its mask key."""


class InconsistentSurvivorsError(ProtocolViolation):
    """The survivor or dropout list contradicts the consistency round, or a peer saw another."""


class InvalidPublicKeyError(ProtocolViolation):
    """An X25519 public key that is non-canonical or of small order (it would zero the secret)."""


class BadShareError(ProtocolViolation):
    """A share in an UnmaskReply differs from the digest its dealer sent; ``sender`` sent it."""

    def __init__(self, sender: int, owner: int, kind: str) -> None:
        self.sender = sender
        self.owner = owner
        self.kind = kind
        super().__init__(
            f"{kind}_shares[{owner}]",
            f"client {sender} sent a share that is not the one client {owner} dealt it",
        )
