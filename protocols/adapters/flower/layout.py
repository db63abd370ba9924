"""The round's declared layout of an update, and the checks a client's update must pass.

The server declares the layout (names, shapes, dtypes, in the order Flower's ``ArrayRecord``
keeps them), usually from the global model it sends. Each client checks its own update against it
before quantising: the server only ever sees masked vectors, so a NaN, a wrong shape or a float
array where an integer one was declared can only be caught on the client, where it raises
:class:`UpdateRefused` naming the client and the array.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from prism_secure.protocols.adapters.flower.errors import UpdateRefused

MAX_ENTRIES = 2**40  # the protocol's vector-length limit


class ArraySpec(BaseModel):
    """One array: its name, shape and exact dtype (``numpy.dtype.str``, e.g. ``'<f4'``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1, max_length=256)
    shape: tuple[int, ...] = Field(max_length=32)
    dtype: str

    @field_validator("shape")
    @classmethod
    def _shape(cls, shape: tuple[int, ...]) -> tuple[int, ...]:
        if any(s < 0 for s in shape):
            raise ValueError(f"shape entries must be >= 0, got {shape}")
        return shape

    @field_validator("dtype")
    @classmethod
    def _dtype(cls, text: str) -> str:
        try:
            dtype = np.dtype(text)
        except TypeError as exc:
            raise ValueError(f"not a numpy dtype: {text!r}") from exc
        if dtype.kind not in "fiu" or dtype.itemsize > 8:
            raise ValueError(
                f"dtype {dtype} is not a float or integer of at most 64 bits "
                "(cast booleans to uint8)"
            )
        return dtype.str

    @property
    def np_dtype(self) -> np.dtype:
        return np.dtype(self.dtype)

    @property
    def is_float(self) -> bool:
        return self.np_dtype.kind == "f"

    @property
    def size(self) -> int:
        return math.prod(self.shape)


class ArrayLayout(BaseModel):
    """The ordered arrays of one update; both sides derive the vector layout from it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    arrays: tuple[ArraySpec, ...] = Field(min_length=1, max_length=100_000)

    @model_validator(mode="after")
    def _check(self) -> ArrayLayout:
        names = [a.name for a in self.arrays]
        if len(set(names)) != len(names):
            raise ValueError("array names must be unique")
        if self.size > MAX_ENTRIES:
            raise ValueError(f"{self.size} entries exceed the limit of {MAX_ENTRIES}")
        return self

    @classmethod
    def of(cls, arrays: Mapping[str, np.ndarray]) -> ArrayLayout:
        """The layout of these arrays, in their order (e.g. the global model's)."""
        return cls(
            arrays=tuple(
                ArraySpec(name=k, shape=np.shape(v), dtype=np.asarray(v).dtype.str)
                for k, v in arrays.items()
            )
        )

    @property
    def size(self) -> int:
        return sum(a.size for a in self.arrays)

    @property
    def has_floats(self) -> bool:
        return any(a.is_float for a in self.arrays)

    @property
    def has_integers(self) -> bool:
        return any(not a.is_float for a in self.arrays)

    def digest(self) -> bytes:
        """A canonical hash, to bind the layout into the session like the model digest."""
        return hashlib.sha256(
            b"prism-flower/v1/layout\x00" + self.model_dump_json().encode()
        ).digest()


def check_update(
    arrays: Mapping[str, np.ndarray], layout: ArrayLayout, *, client: int
) -> list[np.ndarray]:
    """The update's arrays in layout order, or :class:`UpdateRefused` for the first bad one."""
    declared = [a.name for a in layout.arrays]
    for name in arrays:
        if name not in declared:
            raise UpdateRefused(client, str(name), "unexpected", "not in the declared layout")
    out = []
    for spec in layout.arrays:
        if spec.name not in arrays:
            raise UpdateRefused(client, spec.name, "missing", "declared but not in the update")
        value = arrays[spec.name]
        if not isinstance(value, np.ndarray | np.generic):
            raise UpdateRefused(
                client, spec.name, "dtype", f"expected a numpy array, got {type(value).__name__}"
            )
        value = np.asarray(value)
        if value.dtype.str != spec.dtype:
            raise UpdateRefused(
                client,
                spec.name,
                "dtype",
                f"expected {spec.np_dtype} ({spec.dtype}), got {value.dtype} ({value.dtype.str})",
            )
        if value.shape != spec.shape:
            raise UpdateRefused(
                client, spec.name, "shape", f"expected {spec.shape}, got {value.shape}"
            )
        if spec.is_float:
            bad = int(value.size - np.count_nonzero(np.isfinite(value)))
            if bad:
                raise UpdateRefused(
                    client, spec.name, "non-finite", f"{bad} NaN or infinite entries"
                )
        out.append(value)
    return out
