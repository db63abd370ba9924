"""The global scores sent down quantised: ``bits`` per weight instead of 32.

The server rounds each score onto a uniform grid of ``2^bits`` levels between the vector's
minimum and maximum, stochastically (unbiased: up with probability equal to the remainder), with
the uniforms drawn from the round's public seed, so a run reproduces exactly. It then adopts the
dequantised vector as its own global scores, so server and clients hold the same model: the
same MADA step, the same session binding. The message is a 20-byte header and the packed codes;
a client decodes it with :func:`receive`, which checks every size first. Every engine sends the
message :func:`broadcast` returns, so their models stay byte-identical.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import numpy as np
import torch

from prism_secure.config import RunConfig
from prism_secure.errors import PrismError
from prism_secure.federation.seeds import round_seed

MAGIC = b"PSQ1"
SEED_SALT = 5  # the rounding's uniforms: round_seed(run seed, round, SEED_SALT)
_HEADER = struct.Struct("<4sBxxxIff")  # magic, bits, pad, count, lo, hi
HEADER_BYTES = _HEADER.size


class BroadcastError(PrismError, ValueError):
    """A broadcast message is malformed: wrong magic, sizes, bit width or range."""


@dataclass(frozen=True)
class QuantisedScores:
    bits: int
    lo: float  # float32-exact
    hi: float
    codes: np.ndarray  # uint8, one per weight, each < 2^bits

    def dequantise(self) -> torch.Tensor:
        """The scores every party uses: ``lo + code * step`` in float64, cast to float32."""
        step = (self.hi - self.lo) / (2**self.bits - 1)
        values = self.lo + self.codes.astype(np.float64) * step
        return torch.from_numpy(values.astype(np.float32))

    def to_bytes(self) -> bytes:
        header = _HEADER.pack(MAGIC, self.bits, self.codes.size, self.lo, self.hi)
        if self.bits == 8:
            return header + self.codes.tobytes()
        low = np.unpackbits(self.codes[:, None], axis=1)[:, 8 - self.bits :]
        return header + np.packbits(low.ravel()).tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> QuantisedScores:
        if len(data) < _HEADER.size:
            raise BroadcastError(f"broadcast of {len(data)} bytes is shorter than its header")
        magic, bits, count, lo, hi = _HEADER.unpack_from(data)
        if magic != MAGIC or not 1 <= bits <= 8:
            raise BroadcastError(f"not a quantised broadcast (magic {magic!r}, bits {bits})")
        if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
            raise BroadcastError(f"broadcast range [{lo}, {hi}] is not a finite interval")
        want = _HEADER.size + math.ceil(count * bits / 8)
        if len(data) != want:
            raise BroadcastError(
                f"broadcast of {count} weights needs {want} bytes, got {len(data)}"
            )
        body = np.frombuffer(data, dtype=np.uint8, offset=_HEADER.size)
        if bits == 8:
            codes = body.copy()
        else:
            flat = np.unpackbits(body)[: count * bits].reshape(count, bits)
            weights = (1 << np.arange(bits - 1, -1, -1)).astype(np.uint8)
            codes = (flat * weights).sum(axis=1).astype(np.uint8)
        return cls(bits, lo, hi, codes)


def quantise(scores: torch.Tensor, bits: int, seed: int) -> QuantisedScores:
    """Seeded stochastic rounding of ``scores`` onto ``2^bits`` levels spanning their range."""
    if not 1 <= bits <= 8:
        raise ValueError(f"bits must be 1..8, got {bits}")
    s = scores.detach().cpu().to(torch.float32).numpy()
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite to be broadcast")
    lo, hi = float(s.min()), float(s.max())
    levels = 2**bits - 1
    step = (hi - lo) / levels
    if step == 0.0:
        return QuantisedScores(bits, lo, hi, np.zeros(s.size, dtype=np.uint8))
    u = np.random.default_rng(seed).random(s.size)
    codes = np.floor((s.astype(np.float64) - lo) / step + u).clip(0, levels)
    return QuantisedScores(bits, lo, hi, codes.astype(np.uint8))


def broadcast(scores: torch.Tensor, bits: int | None, seed: int) -> tuple[torch.Tensor, bytes]:
    """(the scores every party holds this round, the message each client is sent).

    Without ``bits`` the message is the float32 scores and the held scores are ``scores``
    themselves; with it, the server holds exactly what every client decodes.
    """
    if bits is None:
        return scores, scores.detach().cpu().float().numpy().tobytes()
    message = quantise(scores, bits, seed).to_bytes()
    return receive(message, bits, scores.numel()), message


def receive(message: bytes, bits: int | None, count: int) -> torch.Tensor:
    """A client's decoding of the round's message: ``count`` scores, as the run says to send."""
    if bits is None:
        if len(message) != 4 * count:
            raise BroadcastError(f"float32 scores of {len(message)} bytes for {count} weights")
        return torch.frombuffer(bytearray(message), dtype=torch.float32)
    quantised = QuantisedScores.from_bytes(message)
    if quantised.bits != bits or quantised.codes.size != count:
        raise BroadcastError(
            f"broadcast of {quantised.codes.size} weights at {quantised.bits} bits; "
            f"the run sends {count} at {bits}"
        )
    return quantised.dequantise()


def round_broadcast(
    cfg: RunConfig, scores: torch.Tensor, round_index: int
) -> tuple[torch.Tensor, bytes]:
    """:func:`broadcast` of round ``round_index``, as the run's config and seed say."""
    seed = round_seed(cfg.seed, round_index, SEED_SALT)
    return broadcast(scores, cfg.federation.broadcast_bits, seed)
