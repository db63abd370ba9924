"""Mask arithmetic on long vectors: in cache-sized chunks, and in pieces that threads share.

At d = 1e6 a round is memory traffic and keystream: the server strips ten 4 MB AES streams and
adds ten 4 MB masked inputs. Expanding a whole stream and then adding it sends every keystream
byte through main memory twice; here each stream is made a chunk at a time into one small buffer
and added while that chunk is still in cache, and nothing of vector size is allocated. pyca/
cryptography releases the GIL for large cipher updates and numpy's integer arithmetic runs
without it, so pieces of the vector go to several threads. Arithmetic mod 2^b is exact in any
order: the result is the same, bit for bit, for every chunk size and worker count.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from prism_secure.protocols.secagg.crypto.prg import BLOCK_BYTES, PrgKind, encryptor, start_nonce

MAX_WORKERS = 4
MIN_PIECE_BYTES = 1 << 20  # a smaller piece gains less than a thread costs to start
CHUNK_BYTES = 1 << 18  # a chunk of the vector and of one keystream both stay in a core's cache
ALIGN_BYTES = max(BLOCK_BYTES.values())  # every piece and chunk starts on a block of either
_ZEROS = bytes(CHUNK_BYTES)  # the plaintext of every keystream chunk, allocated once


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _aligned(entries: int, itemsize: int) -> int:
    """``entries`` rounded up to a whole number of cipher-aligned units."""
    unit = ALIGN_BYTES // int(np.gcd(ALIGN_BYTES, itemsize))
    return -(-entries // unit) * unit


def pieces(length: int, itemsize: int, workers: int | None = None) -> list[tuple[int, int]]:
    """``[start, stop)`` ranges covering ``length`` entries, each start on a cipher block.

    ``workers=None`` picks one piece per core (at most :data:`MAX_WORKERS`), fewer when a piece
    would be under :data:`MIN_PIECE_BYTES`.
    """
    if workers is None:
        workers = min(MAX_WORKERS, available_cores(), length * itemsize // MIN_PIECE_BYTES)
    workers = max(1, workers)
    if length == 0:
        return [(0, 0)]
    per = _aligned(-(-length // workers), itemsize)
    return [(lo, min(lo + per, length)) for lo in range(0, length, per)]


def _chunks(lo: int, hi: int, itemsize: int) -> list[tuple[int, int]]:
    step = CHUNK_BYTES // itemsize
    return [(a, min(a + step, hi)) for a in range(lo, hi, step)]


def _run(job: Callable[[int, int], None], ranges: list[tuple[int, int]]) -> None:
    if len(ranges) == 1:
        job(*ranges[0])
        return
    with ThreadPoolExecutor(max_workers=len(ranges) - 1) as pool:
        futures = [pool.submit(job, lo, hi) for lo, hi in ranges[1:]]
        job(*ranges[0])
        for future in futures:
            future.result()  # re-raises a worker's error here


def apply_streams(
    vector: np.ndarray,
    streams: Sequence[tuple[bytes, bool]],
    kind: PrgKind,
    workers: int | None = None,
) -> None:
    """For each ``(seed, add)``: ``vector`` plus (``add``) or minus the seed's keystream, read
    as little-endian words of ``vector``'s dtype, in place."""
    dtype, itemsize = vector.dtype, vector.dtype.itemsize
    words = dtype.newbyteorder("<")

    def job(lo: int, hi: int) -> None:
        nonce = start_nonce(kind, lo * itemsize)
        contexts = [(encryptor(kind, seed, nonce), add) for seed, add in streams]
        out = bytearray(CHUNK_BYTES + ALIGN_BYTES)  # update_into wants block_size - 1 spare
        keystream = np.frombuffer(out, dtype=words, count=CHUNK_BYTES // itemsize)
        for a, b in _chunks(lo, hi, itemsize):
            part, zeros = vector[a:b], memoryview(_ZEROS)[: (b - a) * itemsize]
            stream = keystream[: b - a]
            for context, add in contexts:
                context.update_into(zeros, out)
                if add:
                    part += stream
                else:
                    part -= stream

    _run(job, pieces(vector.shape[0], itemsize, workers))


def add_all(total: np.ndarray, vectors: Sequence[np.ndarray], workers: int | None = None) -> None:
    """``total`` plus every one of ``vectors``, in place."""
    itemsize = total.dtype.itemsize

    def job(lo: int, hi: int) -> None:
        for a, b in _chunks(lo, hi, itemsize):
            part = total[a:b]
            for v in vectors:
                part += v[a:b]

    _run(job, pieces(total.shape[0], itemsize, workers))
