"""Loading the server transcript a run recorded with ``--record-transcript``.

Format read here (one file per recorded round): ``transcript/round_<r>.npz`` holding ``bits``
(the modulus exponent), ``masked_<client>`` (what the server received from that client) and
``input_<client>`` (the client's true mask, recorded only for this audit).
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from prism_secure.errors import RunDirError

_ROUND = re.compile(r"round_(\d+)\.npz$")


@dataclass(frozen=True)
class RoundTranscript:
    round_index: int
    bits: int
    masked: dict[str, NDArray[np.integer]]
    inputs: dict[str, NDArray[np.integer]]


def save_round_transcript(folder: Path, transcript: RoundTranscript) -> Path:
    """Write one round in the format :func:`load_transcripts` reads (used by tests and benches)."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, NDArray[np.integer]] = {"bits": np.array(transcript.bits)}
    arrays |= {f"masked_{c}": v for c, v in transcript.masked.items()}
    arrays |= {f"input_{c}": v for c, v in transcript.inputs.items()}
    path = folder / f"round_{transcript.round_index:05d}.npz"
    np.savez(path, **arrays)  # type: ignore[arg-type]
    return path


def load_transcripts(folder: Path) -> list[RoundTranscript]:
    """Every recorded round in ``folder``, in round order; a malformed file is named."""
    files = sorted((int(m.group(1)), p) for p in folder.iterdir() if (m := _ROUND.search(p.name)))
    if not files:
        raise RunDirError(f"{folder} holds no round_<r>.npz transcript files")
    rounds = []
    for r, path in files:
        try:
            with np.load(path, allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            raise RunDirError(f"{path} is not a readable transcript: {exc}") from exc
        if "bits" not in data:
            raise RunDirError(f"{path} lacks 'bits' (the modulus exponent)")
        masked = {k[7:]: v for k, v in data.items() if k.startswith("masked_")}
        inputs = {k[6:]: v for k, v in data.items() if k.startswith("input_")}
        if set(masked) != set(inputs):
            raise RunDirError(
                f"{path}: clients with masked vectors {sorted(masked)} differ from clients "
                f"with recorded inputs {sorted(inputs)}"
            )
        rounds.append(RoundTranscript(r, int(data["bits"]), masked, inputs))
    return rounds
