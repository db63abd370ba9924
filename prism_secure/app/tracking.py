"""Per-round tracking: sample grids and a domain FID computed from public data only.

Both go into covered files (``samples/``, ``metrics.jsonl``, the curves), so the domain
classifier is trained on the split no client of the run holds and scored against that split.
"""

from __future__ import annotations

from pathlib import Path

import torch

from prism_secure.app.events import TrainingEvents
from prism_secure.app.generator import set_exported
from prism_secure.artifacts.images import grid_columns, save_grid
from prism_secure.config import RunConfig
from prism_secure.errors import DataNotFoundError
from prism_secure.evaluation.domain_classifier import ClassifierSpec
from prism_secure.models.generators import MaskedGenerator

#: Samples scored for the per-round domain FID.
TRACKING_SAMPLES = 1000


def public_split(cfg: RunConfig) -> str:
    """The split no client of this run holds: per-round tracking reads only it."""
    return "test" if cfg.data.split == "train" else "train"


def tracking_spec(cfg: RunConfig) -> ClassifierSpec:
    """The domain classifier of per-round tracking: trained on the public split only.

    The test split is small, so it gets more epochs.
    """
    split = public_split(cfg)
    return ClassifierSpec(split=split, epochs=5 if split == "test" else 1)


def sample_grid(
    cfg: RunConfig, scores: torch.Tensor, generator: MaskedGenerator, path: Path, n: int = 64
) -> torch.Tensor:
    """Draw ``n`` samples of the model as it would be exported now; the first rows go in a PNG."""
    set_exported(cfg, generator, scores)
    nrow = grid_columns(generator)
    images = generator.sample(max(n, 8 * nrow), seed=cfg.seed)
    save_grid(images[: 8 * nrow], path, nrow=nrow)
    return images[:n]


class DomainTracker:
    """Domain FID of the current model every ``sample_every`` rounds; off after one failure."""

    def __init__(self, cfg: RunConfig, events: TrainingEvents) -> None:
        self.cfg, self.events = cfg, events
        self.enabled = cfg.output.track_domain_fid

    @property
    def samples(self) -> int:
        return TRACKING_SAMPLES if self.enabled else 64

    def score(self, images: torch.Tensor) -> float | None:
        if not self.enabled:
            return None
        from prism_secure.evaluation import domain_metrics
        from prism_secure.evaluation.errors import EvaluationError

        cfg = self.cfg
        try:
            metrics = domain_metrics(
                images,
                cfg.data.dataset,
                cfg.data.root,
                spec=tracking_spec(cfg),
                reference_split=public_split(cfg),
            )
        except (EvaluationError, DataNotFoundError, OSError) as exc:
            self.events.notice(f"domain FID skipped: {exc}")
            self.enabled = False
            return None
        return float(metrics["domain_fid"])
