"""Chunked, threaded mask arithmetic gives exactly the sums of whole keystreams.

The masks cancel only if every party's arithmetic is the same stream, mod 2^b, to the bit; so
every chunk size, piece count and vector length must agree with the plain reference: each seed's
whole stream from :func:`expand`, added or subtracted in full.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prism_secure.protocols.secagg import bulk
from prism_secure.protocols.secagg.crypto.prg import BLOCK_BYTES, expand

DTYPES = [np.uint8, np.uint16, np.uint32, np.uint64]


def reference(start: np.ndarray, streams: list[tuple[bytes, bool]], kind: str) -> np.ndarray:
    out = start.copy()
    for seed, add in streams:
        s = expand(seed, out.shape[0], out.dtype, kind)  # type: ignore[arg-type]
        if add:
            out += s
        else:
            out -= s
    return out


@settings(max_examples=60, deadline=None)
@given(
    length=st.integers(0, 3000),
    dtype=st.sampled_from(DTYPES),
    kind=st.sampled_from(["aes-ctr", "chacha20"]),
    workers=st.integers(1, 5),
    chunk=st.sampled_from([64, 128, 1024]),
    signs=st.lists(st.booleans(), min_size=1, max_size=4),
    data=st.data(),
)
def test_apply_streams_equals_whole_streams(
    length: int,
    dtype: type,
    kind: str,
    workers: int,
    chunk: int,
    signs: list[bool],
    data: st.DataObject,
) -> None:
    seeds = [data.draw(st.binary(min_size=32, max_size=32)) for _ in signs]
    streams = list(zip(seeds, signs, strict=True))
    start = np.arange(length, dtype=dtype)
    expected = reference(start, streams, kind)
    got = start.copy()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(bulk, "CHUNK_BYTES", chunk)  # small chunks: many chunk and piece edges
        bulk.apply_streams(got, streams, kind, workers=workers)  # type: ignore[arg-type]
    assert np.array_equal(got, expected)


@settings(max_examples=40, deadline=None)
@given(
    length=st.integers(0, 5000), itemsize=st.sampled_from([1, 2, 4, 8]), workers=st.integers(1, 6)
)
def test_pieces_cover_the_vector_in_order_on_cipher_blocks(
    length: int, itemsize: int, workers: int
) -> None:
    ranges = bulk.pieces(length, itemsize, workers)
    assert ranges[0][0] == 0 and ranges[-1][1] == length
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False))
    assert len(ranges) <= workers
    assert all(lo * itemsize % max(BLOCK_BYTES.values()) == 0 for lo, _ in ranges)


def test_automatic_pieces_keep_small_vectors_in_one_thread() -> None:
    assert bulk.pieces(1000, 4) == [(0, 1000)]
    big = bulk.pieces(4_000_000, 4)
    assert 1 <= len(big) <= min(bulk.MAX_WORKERS, bulk.available_cores())


@pytest.mark.parametrize("workers", [1, 2, 3])
@pytest.mark.parametrize("dtype", DTYPES)
def test_add_all_is_the_wrapping_sum(workers: int, dtype: type) -> None:
    gen = np.random.default_rng(5)
    top = np.iinfo(dtype).max
    vectors = [gen.integers(0, top, 70_001, dtype=dtype, endpoint=True) for _ in range(4)]
    total = np.zeros(70_001, dtype=dtype)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(bulk, "CHUNK_BYTES", 4096)
        bulk.add_all(total, vectors, workers=workers)
    expected = np.zeros(70_001, dtype=dtype)
    for v in vectors:
        expected += v
    assert np.array_equal(total, expected)


def test_a_worker_error_reaches_the_caller() -> None:
    """A bad seed in one piece's thread raises in the caller, not silently in the thread."""
    vector = np.zeros(1 << 16, dtype=np.uint32)
    with pytest.raises(ValueError, match="seed must be 32 bytes"):
        bulk.apply_streams(vector, [(b"short", True)], "aes-ctr", workers=3)
