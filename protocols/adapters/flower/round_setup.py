"""What the server tells each client with a secure round's train message, and the model digest.

The setup travels as flat fields of our record (JSON for the nested models) beside the user's
own content; the client treats it as hostile and checks it whole: every model validates, and the
session's modulus and length must be the ones the layout and quantisation imply, so a server
cannot make the sum wrap. Everything in it but the client's own id goes into the model digest,
which the protocol binds into the session id: clients that were sent different models, layouts
or quantisation end up in different sessions and abort instead of summing incompatible inputs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Literal

from flwr.app import ArrayRecord
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from prism_secure.errors import ConfigError
from prism_secure.protocols import SessionParams
from prism_secure.protocols.adapters.flower.layout import ArrayLayout
from prism_secure.protocols.adapters.flower.quantise_config import QuantiseConfig, plan_vector
from prism_secure.protocols.adapters.flower.transport import FlowerPayloadError

Format = Literal["message", "legacy"]  # Flower's Message API, or NumPyClient's FitIns / FitRes
LEGACY_IN, LEGACY_OUT, LEGACY_WEIGHT = "fitins.parameters", "fitres.parameters", "num_examples"
MAX_JSON = 1 << 24  # characters of one nested model on the wire
_NESTED = ("session", "layout", "quantise")


class RoundSetup(BaseModel):
    """One client's instructions for one secure round (``client`` is its protocol id)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    client: int = Field(ge=0, lt=2**32)
    session: SessionParams
    layout: ArrayLayout
    quantise: QuantiseConfig
    format: Format = "message"
    array_key: str = Field(default="arrays", min_length=1, max_length=256)
    weight_key: str = Field(default="num-examples", min_length=1, max_length=256)

    @property
    def model_key(self) -> str:
        """The array record of the instruction: the global model the client trains from."""
        return LEGACY_IN if self.format == "legacy" else self.array_key

    @property
    def update_key(self) -> str:
        """The array record of the user's reply: the update to aggregate."""
        return LEGACY_OUT if self.format == "legacy" else self.array_key

    def to_fields(self) -> dict[str, int | str]:
        """Flat values for our ``ConfigRecord``."""
        fields: dict[str, int | str] = {
            "client": self.client,
            "format": self.format,
            "array-key": self.array_key,
            "weight-key": self.weight_key,
        }
        for name in _NESTED:
            fields[name] = getattr(self, name).model_dump_json()
        return fields

    @classmethod
    def from_fields(cls, fields: Mapping[str, object]) -> RoundSetup:
        """Parse and check a setup the server sent; :class:`FlowerPayloadError` names the field."""
        values: dict[str, object] = {}
        for name in _NESTED:
            text = fields.get(name)
            if not isinstance(text, str) or len(text) > MAX_JSON:
                raise FlowerPayloadError(name, "missing, not a string, or too long")
            values[name] = text
        for key, name in (
            ("array-key", "array_key"),
            ("weight-key", "weight_key"),
            ("format",) * 2,
        ):
            values[name] = fields.get(key)
            if not isinstance(values[name], str):
                raise FlowerPayloadError(key, "missing or not a string")
        values["client"] = fields.get("client")
        if isinstance(values["client"], bool) or not isinstance(values["client"], int):
            raise FlowerPayloadError("client", "missing or not an integer")
        try:
            parsed = {n: _model(n).model_validate_json(values[n]) for n in _NESTED}  # type: ignore[arg-type]
            setup = cls.model_validate({**values, **parsed})
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "setup"
            raise FlowerPayloadError(where, first["msg"]) from None
        setup.check_plan()
        return setup

    def check_plan(self) -> None:
        """The session's b and length must be what n clients' encoded updates need."""
        try:
            plan = plan_vector(self.quantise, self.layout, self.session.clients)
        except ConfigError as exc:
            raise FlowerPayloadError(f"quantise.{exc.field}", str(exc)) from None
        if (plan.bits, plan.length) != (self.session.bits, self.session.length):
            raise FlowerPayloadError(
                "session",
                f"bits {self.session.bits} and length {self.session.length} do not hold "
                f"{self.session.clients} updates of this layout (need {plan.bits} and "
                f"{plan.length})",
            )

    def shared_json(self) -> str:
        """Everything every client of the round is told alike (all but its own id)."""
        return self.model_dump_json(exclude={"client"})


def _model(name: str) -> type[BaseModel]:
    return {"session": SessionParams, "layout": ArrayLayout, "quantise": QuantiseConfig}[name]


def model_digest(record: ArrayRecord | None, setup: RoundSetup) -> bytes:
    """SHA-256 of the global model as Flower carries it and of the round's shared setup."""
    h = hashlib.sha256(b"prism-flower/v1/model\x00")
    h.update(_framed(setup.shared_json().encode()))
    h.update(record_digest(record))
    return h.digest()


def record_digest(record: ArrayRecord | None) -> bytes:
    """SHA-256 of an ArrayRecord's arrays: names, dtypes, shapes and the bytes Flower sends."""
    h = hashlib.sha256(b"prism-flower/v1/arrays\x00")
    for key, array in (record or {}).items():
        h.update(_framed(str(key).encode()))
        h.update(_framed(f"{array.dtype}|{tuple(array.shape)}|{array.stype}".encode()))
        h.update(_framed(bytes(array.data)))
    return h.digest()


def _framed(data: bytes) -> bytes:
    return len(data).to_bytes(8, "big") + data
