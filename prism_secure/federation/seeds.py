"""Public per-round randomness and the digest that binds a secure sum to the round's model.

Everything random that shapes a run's result is drawn from ``(seed, round, salt)``, so every
party, any engine, and a resumed run draw the same values.
"""

from __future__ import annotations

import hashlib

import torch


def round_seed(seed: int, round_index: int, salt: int) -> int:
    digest = hashlib.sha256(f"{seed}|{round_index}|{salt}".encode()).digest()
    return int.from_bytes(digest[:7], "little")


def model_digest(scores: torch.Tensor, round_index: int) -> bytes:
    """Binds a secure-aggregation session to the exact global model sent this round."""
    h = hashlib.sha256(round_index.to_bytes(8, "little"))
    h.update(scores.detach().cpu().float().numpy().tobytes())
    return h.digest()
