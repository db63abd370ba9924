"""Dense b-bit packing of masked vectors: exact round trips at every width, the smallest upload."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from prism_secure.protocols.secagg.params import storage_dtype
from prism_secure.protocols.secagg.vectors import pack, unpack


@settings(max_examples=150, deadline=None)
@given(bits=st.integers(1, 64), length=st.integers(0, 300), seed=st.integers(0, 2**32 - 1))
def test_pack_unpack_round_trips_at_exactly_b_bits(bits: int, length: int, seed: int) -> None:
    dtype = storage_dtype(bits)
    gen = np.random.default_rng(seed)
    values = gen.integers(0, 1 << bits, length, dtype=np.uint64, endpoint=False).astype(dtype)
    data = pack(values, bits)
    assert len(data) == (length * bits + 7) // 8
    for copy in (True, False):
        back = unpack(data, bits, length, copy=copy)
        assert back.dtype == dtype and np.array_equal(back, values)


def test_unpack_without_copy_is_a_read_only_view_and_with_copy_is_writable() -> None:
    values = np.arange(1000, dtype=np.uint32) * 4_000_000
    data = pack(values, 32)
    view = unpack(data, 32, 1000, copy=False)
    assert not view.flags.writeable and np.shares_memory(view, np.frombuffer(data, np.uint8))
    owned = unpack(data, 32, 1000)
    owned += 1  # the client masks its own vector in place
    assert np.array_equal(owned, values + 1)
