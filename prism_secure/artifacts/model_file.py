"""The exported model: ``(architecture, seed, packed mask bits)`` in a small versioned file.

Layout: ``b"PRISMGEN"`` | u16 format version | u32 header length | JSON header | payload |
SHA-256 of everything before it. The payload is one bit per maskable weight (or float32 weights
for the dense baseline). Nothing is unpickled, so a model file is safe to accept from anyone.
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from prism_secure.artifacts.atomic import write_bytes_atomic
from prism_secure.config import ModelConfig
from prism_secure.errors import ModelFileError
from prism_secure.models.generators import MaskedGenerator, build_generator

MAGIC = b"PRISMGEN"
FORMAT_VERSION = 1
_PREFIX = struct.Struct("<8sHI")


class ModelHeader(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["mask", "dense"]
    model: ModelConfig
    weight_seed: int
    channels: int
    num_params: int
    dataset: str | None = None
    num_classes: int = Field(default=0, ge=0, description="Labels the generator reads (0: none).")


def encode_model(header: ModelHeader, payload: np.ndarray) -> bytes:
    if header.kind == "mask":
        bits = np.asarray(payload, dtype=np.uint8).reshape(-1)
        if bits.size != header.num_params or bits.max(initial=0) > 1:
            raise ModelFileError("mask payload must be num_params values in {0, 1}")
        body = np.packbits(bits, bitorder="little").tobytes()
    else:
        body = np.asarray(payload, dtype="<f4").reshape(-1).tobytes()
    head = header.model_dump_json().encode("utf-8")
    blob = _PREFIX.pack(MAGIC, FORMAT_VERSION, len(head)) + head + body
    return blob + hashlib.sha256(blob).digest()


def decode_model(blob: bytes) -> tuple[ModelHeader, np.ndarray]:
    if len(blob) < _PREFIX.size + 32:
        raise ModelFileError("model file is truncated")
    magic, version, head_len = _PREFIX.unpack_from(blob)
    if magic != MAGIC:
        raise ModelFileError("not a prism-secure model file (bad magic)")
    if version != FORMAT_VERSION:
        raise ModelFileError(f"model format version {version}; this build reads {FORMAT_VERSION}")
    body, digest = blob[:-32], blob[-32:]
    if hashlib.sha256(body).digest() != digest:
        raise ModelFileError("model file is corrupted (checksum mismatch)")
    start = _PREFIX.size
    try:
        header = ModelHeader.model_validate(json.loads(body[start : start + head_len]))
    except (ValueError, ValidationError) as exc:
        raise ModelFileError(f"model header is invalid: {exc}") from exc
    payload = body[start + head_len :]
    n = header.num_params
    if header.kind == "mask":
        if len(payload) != (n + 7) // 8:
            raise ModelFileError(f"mask payload has {len(payload)} bytes, expected {(n + 7) // 8}")
        arr = np.unpackbits(np.frombuffer(payload, np.uint8), bitorder="little")[:n]
    else:
        if len(payload) != 4 * n:
            raise ModelFileError(f"dense payload has {len(payload)} bytes, expected {4 * n}")
        arr = np.frombuffer(payload, dtype="<f4").copy()
    return header, arr


def save_model(path: Path, header: ModelHeader, payload: np.ndarray) -> int:
    blob = encode_model(header, payload)
    write_bytes_atomic(Path(path), blob)
    return len(blob)


def generator_from(header: ModelHeader, payload: np.ndarray) -> MaskedGenerator:
    gen = build_generator(header.model, header.weight_seed, header.channels, header.num_classes)
    if gen.num_maskable != header.num_params:
        raise ModelFileError(
            f"header says {header.num_params} parameters, architecture has {gen.num_maskable}"
        )
    if header.kind == "mask":
        gen.set_fixed_mask(payload)
    else:
        gen.set_vector(torch.from_numpy(payload))
    return gen.eval()


def load_generator(path: Path, device: str = "cpu") -> MaskedGenerator:
    """A ready-to-sample generator from a model file, or from a run directory holding one."""
    path = Path(path)
    if path.is_dir():
        path = path / "model.prism"
    try:
        blob = path.read_bytes()
    except FileNotFoundError as exc:
        raise ModelFileError(f"no model file at {path}") from exc
    header, payload = decode_model(blob)
    return generator_from(header, payload).to(device)
