"""Frozen random weights every party rebuilds from ``(architecture, seed, layer name)``.

Signs come from SHAKE-256, not from a framework RNG, so the weights are bit-identical across
machines, devices and library versions: nothing but the seed ever needs to be sent.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import torch


def random_signs(tag: str, count: int) -> np.ndarray:
    """``count`` values in {-1, +1}, one bit each from SHAKE-256(tag)."""
    stream = hashlib.shake_256(tag.encode("utf-8")).digest((count + 7) // 8)
    bits = np.unpackbits(np.frombuffer(stream, dtype=np.uint8), bitorder="little")[:count]
    return bits.astype(np.float32) * 2.0 - 1.0


def signed_kaiming_constant(
    shape: tuple[int, ...], *, arch: str, seed: int, name: str, fan: int
) -> torch.Tensor:
    """``sign(w0) * sqrt(2 / fan_in)`` as in the paper, with signs fixed by the tag."""
    signs = random_signs(f"prism-secure/frozen/v1|{arch}|{seed}|{name}", math.prod(shape))
    return torch.from_numpy(signs).reshape(shape) * math.sqrt(2.0 / fan)
