"""Where the Gaussian noise comes from.

By default a fresh ``torch.Generator`` seeded from the OS's cryptographic source
(:func:`secrets.randbits`), never from the run seed: whoever knows the seed can subtract the noise.
``PrivacyConfig.noise_seed`` reproduces an experiment at the price of the guarantee against anyone
who knows it, and the ledger says so. Even then every client draws from its own stream
(``stream``, its client id): one shared noise vector would make the differences between two
clients' releases noise-free.
"""

from __future__ import annotations

import hashlib
import secrets

import torch

from prism_secure.config import PrivacyConfig


def stream_seed(noise_seed: int, stream: int) -> int:
    """A 64-bit seed for one client's stream, independent across streams of one noise seed."""
    digest = hashlib.sha256(f"prism-secure/noise/v1|{int(noise_seed)}|{int(stream)}".encode())
    return int.from_bytes(digest.digest()[:8], "little")


def noise_generator(cfg: PrivacyConfig, stream: int) -> tuple[torch.Generator, bool]:
    """A CPU generator for one client's DP noise, and whether it was seeded from a known value."""
    gen = torch.Generator(device="cpu")
    if cfg.noise_seed is not None:
        gen.manual_seed(stream_seed(cfg.noise_seed, stream))
        return gen, True
    gen.manual_seed(secrets.randbits(64))
    return gen, False
