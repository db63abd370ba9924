"""Integer vectors mod 2^b: input checks and dense b-bit packing for the wire.

A masked vector is uniform mod 2^b, so it cannot compress; packing it at exactly b bits per entry
is the smallest upload. Widths of 8, 16, 32 and 64 bits are copied as little-endian words; other
widths go through numpy's bit (un)packing, all vectorised.
"""

from __future__ import annotations

import numpy as np

from prism_secure.protocols.errors import VectorLengthError
from prism_secure.protocols.secagg.params import storage_dtype


def check_input(vector: np.ndarray, bits: int, length: int) -> np.ndarray:
    """The input as the storage dtype, after checking its shape, kind and range."""
    vector = np.asarray(vector)
    if vector.ndim != 1 or vector.shape[0] != length:
        raise VectorLengthError("vector", f"expected shape ({length},), got {vector.shape}")
    if vector.dtype == np.bool_:
        vector = vector.astype(np.uint8)
    if not np.issubdtype(vector.dtype, np.integer):
        raise VectorLengthError("vector", f"expected integers, got {vector.dtype}")
    if length and (int(vector.min()) < 0 or int(vector.max()) >= (1 << bits)):
        raise VectorLengthError("vector", f"entries must lie in [0, 2^{bits})")
    return vector.astype(storage_dtype(bits), copy=True)


def _pack_low_bits(values: np.ndarray, r: int) -> bytes:
    """Pack the low ``r`` (< 8) bits of uint8 ``values``: 8 values make r bytes of one uint64."""
    d = values.shape[0]
    if 8 % r == 0:  # 1, 2 or 4 bits: whole entries per byte, all in uint8
        per = 8 // r
        padded = np.zeros((d + per - 1) // per * per, dtype=np.uint8)
        padded[:d] = values
        cols = padded.reshape(-1, per)
        acc = cols[:, 0].copy()
        for j in range(1, per):
            acc |= cols[:, j] << np.uint8(j * r)
        return acc.tobytes()
    groups = np.zeros((d + 7) // 8 * 8, dtype=np.uint64)
    groups[:d] = values
    groups = groups.reshape(-1, 8)
    acc = groups[:, 0].copy()
    for j in range(1, 8):
        acc |= groups[:, j] << np.uint64(j * r)
    out = acc.astype("<u8").view(np.uint8).reshape(-1, 8)[:, :r]
    return out.tobytes()[: (d * r + 7) // 8]


def _unpack_low_bits(data: memoryview | bytes, r: int, d: int) -> np.ndarray:
    if 8 % r == 0:
        per = 8 // r
        packed = np.frombuffer(data, dtype=np.uint8)
        cols = np.empty((packed.shape[0], per), dtype=np.uint8)
        for j in range(per):
            cols[:, j] = (packed >> np.uint8(j * r)) & np.uint8((1 << r) - 1)
        return cols.ravel()[:d]
    groups = (d + 7) // 8
    raw = np.zeros(groups * r, dtype=np.uint8)
    raw[: len(data)] = np.frombuffer(data, dtype=np.uint8)
    words = np.zeros((groups, 8), dtype=np.uint8)
    words[:, :r] = raw.reshape(groups, r)
    acc = words.view("<u8").ravel().astype(np.uint64)
    out = np.empty((groups, 8), dtype=np.uint8)
    mask = np.uint64((1 << r) - 1)
    for j in range(8):
        out[:, j] = (acc >> np.uint64(j * r)) & mask
    return out.ravel()[:d]


def pack(values: np.ndarray, bits: int) -> bytes:
    """``values`` (already reduced mod 2^bits, storage dtype) at ``bits`` bits each.

    Layout: the ``bits // 8`` whole low bytes of every entry, then the remaining ``bits % 8``
    bits of every entry packed densely; ``ceil(d * bits / 8)`` bytes in all.
    """
    dtype = storage_dtype(bits)
    values = np.ascontiguousarray(values, dtype=dtype.newbyteorder("<"))
    whole, rest = divmod(bits, 8)
    if not rest:
        if whole == dtype.itemsize:
            return values.tobytes()
        return values.view(np.uint8).reshape(-1, dtype.itemsize)[:, :whole].tobytes()
    planes = values.view(np.uint8).reshape(-1, dtype.itemsize)
    head = planes[:, :whole].tobytes() if whole else b""
    return head + _pack_low_bits(planes[:, whole], rest)


def unpack(data: bytes, bits: int, length: int, *, copy: bool = True) -> np.ndarray:
    """Inverse of :func:`pack`; the caller has checked ``len(data)``.

    ``copy=False`` lets whole-word widths come back as a read-only view of ``data`` (on a
    little-endian host), for a reader that only adds the vector somewhere else.
    """
    dtype = storage_dtype(bits)
    whole, rest = divmod(bits, 8)
    if whole == dtype.itemsize and not rest:
        words = np.frombuffer(data, dtype=dtype.newbyteorder("<"), count=length)
        return words.astype(dtype, copy=copy)
    planes = np.zeros((length, dtype.itemsize), dtype=np.uint8)
    view = memoryview(data)
    if whole:
        planes[:, :whole] = np.frombuffer(view[: length * whole], np.uint8).reshape(length, whole)
    if rest:
        planes[:, whole] = _unpack_low_bits(view[length * whole :], rest, length)
    return planes.view(dtype.newbyteorder("<")).ravel().astype(dtype, copy=False)
