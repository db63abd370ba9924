"""The exported model file: bit-exact round trip, and corrupted files refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from prism_secure.artifacts.model_file import (
    ModelHeader,
    decode_model,
    encode_model,
    load_generator,
    save_model,
)
from prism_secure.config import ModelConfig
from prism_secure.errors import ModelFileError
from prism_secure.models.generators import build_generator

SMALL = ModelConfig(latent_dim=8, width=4)


def _header(n: int) -> ModelHeader:
    return ModelHeader(kind="mask", model=SMALL, weight_seed=3, channels=1, num_params=n)


@settings(max_examples=25)
@given(st.integers(1, 5000), st.integers(0, 2**32 - 1))
def test_mask_payload_round_trips_bit_exactly(n: int, seed: int) -> None:
    bits = np.random.default_rng(seed).integers(0, 2, n).astype(np.uint8)
    header, back = decode_model(encode_model(_header(n), bits))
    assert header == _header(n)
    assert np.array_equal(back, bits)


def test_saved_model_samples_like_the_original(tmp_path: Path) -> None:
    gen = build_generator(SMALL, 3)
    bits = np.random.default_rng(0).integers(0, 2, gen.num_maskable).astype(np.uint8)
    gen.set_fixed_mask(bits)
    size = save_model(tmp_path / "m.prism", _header(gen.num_maskable), bits)
    assert size < gen.num_maskable / 8 + 1024  # one bit per weight plus a small header
    loaded = load_generator(tmp_path / "m.prism")
    assert torch.equal(loaded.sample(16, seed=4), gen.sample(16, seed=4))


def test_corruption_truncation_and_version_are_refused() -> None:
    blob = bytearray(encode_model(_header(100), np.ones(100, np.uint8)))
    bad = bytes(blob[:-40])
    with pytest.raises(ModelFileError, match="checksum|truncated"):
        decode_model(bad)
    flipped = bytearray(blob)
    flipped[30] ^= 1
    with pytest.raises(ModelFileError, match="checksum"):
        decode_model(bytes(flipped))
    with pytest.raises(ModelFileError, match="magic"):
        decode_model(b"NOTPRISM" + bytes(blob[8:]))
    with pytest.raises(ModelFileError, match="truncated"):
        decode_model(b"PRISM")


def test_missing_file_and_bad_payload(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="no model file"):
        load_generator(tmp_path / "absent.prism")
    with pytest.raises(ModelFileError):
        encode_model(_header(10), np.full(10, 2, np.uint8))
