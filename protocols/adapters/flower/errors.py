"""Typed errors of the Flower adapter, and the refusal report a client sends instead of an input.

A refused update is not a protocol failure: the client drops out of this round and the others go
on. :class:`UpdateRefused` therefore carries a :class:`RefusalReport`, a small flat record (ints
and strings only, as a Flower ``ConfigRecord`` holds them) that the client-side mod sends in place
of its masked input and the server-side workflow parses, as hostile input, to mark the client as
dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from prism_secure.errors import ConfigError, PrismError
from prism_secure.protocols.errors import AbortedError

Reason = Literal["missing", "unexpected", "dtype", "shape", "non-finite", "weight"]
REASONS: tuple[str, ...] = Reason.__args__  # type: ignore[attr-defined]


class RefusalReport(BaseModel):
    """Who was refused, for which array (or ``num_examples``), why; bounded for the wire."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    client: int = Field(ge=0, lt=2**64)
    array: str = Field(max_length=256)
    reason: Reason
    detail: str = Field(default="", max_length=1000)

    def to_record(self) -> dict[str, int | str]:
        """Flat values a Flower ``ConfigRecord`` accepts."""
        return self.model_dump()

    @classmethod
    def from_record(cls, record: Mapping[str, object]) -> RefusalReport:
        """Parse a report a peer sent; anything malformed raises :class:`ReportError`."""
        try:
            return cls.model_validate(dict(record))
        except (ValidationError, TypeError, ValueError) as exc:
            raise ReportError("refusal", f"malformed refusal report: {exc}") from None


class UpdateRefused(PrismError, ValueError):
    """A client's update does not match the round's declared layout, or holds NaN/inf.

    ``client`` and ``array`` name it; ``reason`` is one of :data:`REASONS`; the client takes no
    further part in the round (the mod sends :attr:`report`, the server counts a dropout).
    """

    def __init__(self, client: int, array: str, reason: Reason, detail: str) -> None:
        self.client = int(client)
        self.array = array
        self.reason = reason
        self.detail = detail
        super().__init__(f"client {client}: array {array!r} refused ({reason}): {detail}")

    @property
    def report(self) -> RefusalReport:
        return RefusalReport(
            client=self.client,
            array=self.array[:256],
            reason=self.reason,
            detail=self.detail[:1000],
        )


class ReportError(ConfigError):
    """A refusal report or an aggregate that does not decode (``field`` names the part)."""


class AggregateError(ConfigError):
    """A secure sum that cannot be the sum of valid encoded updates (length, range, weight)."""


class InsecureParametersError(ConfigError):
    """Threshold and graph let a server learn individual inputs; pass the override to accept."""


class InsecureParametersWarning(UserWarning):
    """Issued when insecure parameters are accepted because the caller overrode the refusal."""


class RoundSetupError(ConfigError):
    """The server's request cannot run a secure round (``field`` names what is off).

    Raised on the server for a strategy's messages that cannot be aggregated securely (no array
    record, different models for different nodes, a plain ``push_messages`` of train messages).
    """


class ClientStateMissing(PrismError):
    """A protocol message for a round this client holds no saved state of (it left, or never
    joined); Flower returns the error to the server, which counts a dropout."""

    def __init__(self, round_index: int) -> None:
        self.round = round_index
        super().__init__(f"no saved secure-aggregation state for round {round_index}")


class SecureRoundAborted(AbortedError):
    """A secure round over Flower stopped below its threshold; nothing was released.

    ``report`` is the round's :class:`~.round_report.SecureRound`: who dropped where, and why.
    """

    def __init__(self, reason: str, *, phase: str | None, report: object) -> None:
        super().__init__(reason, phase=phase)
        self.report = report


Model = TypeVar("Model", bound=BaseModel)


def parse_config(model: type[Model], values: Mapping[str, object], fallback: str = "") -> Model:
    """Validate ``values`` as ``model``; pydantic's error becomes a :class:`ConfigError` naming
    the field (``fallback`` when the error belongs to the whole model)."""
    try:
        return model.model_validate(dict(values))
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or fallback
        raise ConfigError(field, first["msg"]) from None
