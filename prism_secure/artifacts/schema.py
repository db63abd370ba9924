"""The run directory's contract, shared by training and audits: names, membership, transcripts.

Which files the differential-privacy guarantee covers is stated here too. Covered files carry
only public parameters, released (noisy) statistics and what training computes from them
(post-processing), so the ``(epsilon, delta)`` in ``privacy.json`` bounds what any of them reveals
about a record. Operator-only files are read from records directly (for audits and evaluation):
they are outside the guarantee and must not be shared.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from prism_secure.artifacts.atomic import write_bytes_atomic
from prism_secure.errors import RunDirError

CONFIG = "config.json"
MEMBERSHIP = "membership.json"
METRICS = "metrics.jsonl"
PRIVACY = "privacy.json"
RELEASED = "released"
CHECKPOINT = "checkpoints/latest.pt"
SAMPLES = "samples"
CURVES = "training_curves.png"
MODEL = "model.prism"
SUMMARY = "summary.json"
TRANSCRIPT = "transcript"
EVAL = "eval.json"
AUDIT_REPORTS = ("audit.json", "audit.md", "roc.png")

#: Files the DP guarantee covers, with what each holds.
COVERED: dict[str, str] = {
    CONFIG: "the resolved configuration (public parameters)",
    PRIVACY: "this ledger: public parameters of every release, no released values",
    RELEASED + "/": "each client's released statistics (noisy), written once before round 1",
    METRICS: "per round: loss, lambda, mask density, domain FID from public data, bytes, seconds",
    CURVES: "plots of metrics.jsonl",
    SAMPLES + "/": "sample grids of the global model",
    MODEL: "the final model: architecture, seed, packed mask bits",
    SUMMARY: "totals over metrics.jsonl",
    CHECKPOINT: "global scores, server RNG, released statistics (no record counts)",
    "(server's view)": "masked vectors, per-weight counts of survivors, the survivor list",
}

#: Files outside the guarantee: they are computed from records directly.
OPERATOR_ONLY: dict[str, str] = {
    MEMBERSHIP: "record indices per client, holdout and canaries (the audit's ground truth)",
    TRANSCRIPT + "/": "with --record-transcript: the server's view beside each client's true mask",
    EVAL: "evaluate's report; its floor reads real training records",
    **{name: "the audit's reports, built from member records" for name in AUDIT_REPORTS},
}


# ---- membership.json -------------------------------------------------------------------------


class CanaryRecord(BaseModel):
    """The one-run audit's canaries: candidates, those inserted, and who holds each."""

    model_config = ConfigDict(extra="forbid")

    candidates: list[int]
    inserted: list[int]
    client_of: dict[str, int] = Field(default_factory=dict)


class Membership(BaseModel):
    """Which records each client trained on, and which same-distribution records none did."""

    model_config = ConfigDict(extra="forbid")

    dataset: str
    split: str = "train"
    clients: dict[int, list[int]]
    holdout: list[int]
    canaries: CanaryRecord | None = None

    @property
    def members(self) -> set[int]:
        return {i for idx in self.clients.values() for i in idx}


# ---- transcript/round_<r>.npz ----------------------------------------------------------------

_ROUND = re.compile(r"round_(\d+)\.npz$")


@dataclass(frozen=True)
class RoundTranscript:
    """One round as the server saw it (``masked``), beside each client's true mask (``inputs``).

    Keys are client ids as strings. Written only with ``--record-transcript``, for the audit's
    test that the server's view is uniform and independent of the inputs: operator-only.
    """

    round_index: int
    bits: int
    masked: dict[str, NDArray[np.integer]]
    inputs: dict[str, NDArray[np.integer]]


def save_round_transcript(folder: Path, transcript: RoundTranscript) -> Path:
    """Write one round atomically, in the format :func:`load_transcripts` reads."""
    arrays: dict[str, NDArray[np.integer]] = {"bits": np.array(transcript.bits)}
    arrays |= {f"masked_{c}": v for c, v in transcript.masked.items()}
    arrays |= {f"input_{c}": v for c, v in transcript.inputs.items()}
    path = Path(folder) / f"round_{transcript.round_index:05d}.npz"
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    write_bytes_atomic(path, buf.getvalue())
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
