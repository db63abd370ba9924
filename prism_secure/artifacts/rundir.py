"""The run directory: one folder holding everything a run produced, each file written atomically.

Its names, what each file holds and which files the DP guarantee covers are in
:mod:`prism_secure.artifacts.schema`; this class reads and writes them.
"""

from __future__ import annotations

import io
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from prism_secure.artifacts import schema
from prism_secure.artifacts.atomic import append_jsonl, write_bytes_atomic, write_text_atomic
from prism_secure.config import RunConfig, stored_run_config
from prism_secure.errors import RunDirError


class RunDirectory:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    config_path = property(lambda self: self.path / schema.CONFIG)
    membership_path = property(lambda self: self.path / schema.MEMBERSHIP)
    metrics_path = property(lambda self: self.path / schema.METRICS)
    privacy_path = property(lambda self: self.path / schema.PRIVACY)
    checkpoint_path = property(lambda self: self.path / schema.CHECKPOINT)
    samples_dir = property(lambda self: self.path / schema.SAMPLES)
    model_path = property(lambda self: self.path / schema.MODEL)
    summary_path = property(lambda self: self.path / schema.SUMMARY)
    curves_path = property(lambda self: self.path / schema.CURVES)
    transcript_dir = property(lambda self: self.path / schema.TRANSCRIPT)

    @staticmethod
    def default_name(cfg: RunConfig) -> str:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        return f"{cfg.data.dataset}-{cfg.partition.scheme}-{stamp}"

    @classmethod
    def create(cls, cfg: RunConfig) -> RunDirectory:
        """Make the folder for a new run; refuse to reuse one unless ``overwrite`` is set."""
        name = cfg.output.name or cls.default_name(cfg)
        path = Path(cfg.output.runs_dir) / name
        if path.exists() and any(path.iterdir()):
            if not cfg.output.overwrite:
                raise RunDirError(
                    f"{path} already holds a run; pass --resume to continue it, --overwrite to "
                    "replace it, or choose another --name"
                )
            shutil.rmtree(path)
        (path / schema.CHECKPOINT).parent.mkdir(parents=True, exist_ok=True)
        (path / schema.SAMPLES).mkdir(exist_ok=True)
        run = cls(path)
        write_text_atomic(run.config_path, cfg.model_dump_json(indent=2) + "\n")
        return run

    @classmethod
    def open(cls, path: Path) -> RunDirectory:
        run = cls(Path(path))
        if not run.config_path.exists():
            raise RunDirError(f"{path} is not a run directory (no config.json)")
        return run

    def config(self) -> RunConfig:
        try:
            return stored_run_config(self.config_path.read_text())
        except (OSError, ValueError) as exc:
            raise RunDirError(f"{self.config_path} is unreadable or invalid: {exc}") from exc

    def append_metrics(self, record: dict[str, Any]) -> None:
        append_jsonl(self.metrics_path, record)

    def metrics(self) -> list[dict[str, Any]]:
        if not self.metrics_path.exists():
            return []
        return [json.loads(line) for line in self.metrics_path.read_text().splitlines() if line]

    def truncate_metrics(self, last_round: int) -> None:
        """Drop lines of rounds after the checkpoint, so a resumed run does not repeat them."""
        kept = [r for r in self.metrics() if r.get("round", 0) <= last_round]
        text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in kept)
        write_text_atomic(self.metrics_path, text)

    def save_transcript(self, transcript: schema.RoundTranscript) -> None:
        """The server's view of one round (``--record-transcript``), for the audit to test."""
        schema.save_round_transcript(self.transcript_dir, transcript)

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        buf = io.BytesIO()
        torch.save(state, buf)
        write_bytes_atomic(self.checkpoint_path, buf.getvalue())

    def load_checkpoint(self) -> dict[str, Any] | None:
        if not self.checkpoint_path.exists():
            return None
        return torch.load(self.checkpoint_path, map_location="cpu", weights_only=True)
