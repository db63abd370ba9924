"""Where the Gaussian noise comes from.

By default a fresh ``torch.Generator`` seeded from the OS's cryptographic source
(:func:`secrets.randbits`), never from the run seed: whoever knows the seed can subtract the noise.
``PrivacyConfig.noise_seed`` reproduces an experiment at the price of the guarantee against anyone
who knows it, and the ledger says so.
"""

from __future__ import annotations

import secrets

import torch

from prism_secure.config import PrivacyConfig


def noise_generator(cfg: PrivacyConfig) -> tuple[torch.Generator, bool]:
    """A CPU generator for the DP noise and whether it was seeded from a known value."""
    gen = torch.Generator(device="cpu")
    if cfg.noise_seed is not None:
        gen.manual_seed(int(cfg.noise_seed) % 2**64)
        return gen, True
    gen.manual_seed(secrets.randbits(64))
    return gen, False
