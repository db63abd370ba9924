"""The evaluation report: one pydantic model, written as eval.json."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, Field

from prism_secure import __version__
from prism_secure.artifacts.atomic import write_text_atomic
from prism_secure.evaluation.domain import DomainMetrics
from prism_secure.evaluation.domain_classifier import ClassifierMeta
from prism_secure.evaluation.prdc import PRDC


class InceptionInfo(BaseModel):
    source: str = Field(description="File path of the TorchScript network, or the library used.")
    backend: str = Field("torch", description="What ran the network: onnxruntime or torch.")
    network_id: str = Field(description="sha256 of the network file, or lib:<name>:<weights>.")
    standard: bool = Field(description="True for the TF-FID inception-2015-12-05 weights.")
    device: str
    batch_size: int
    threads: int | None
    images: int
    seconds: float
    images_per_second: float | None


class CacheInfo(BaseModel):
    dir: str
    hits: int
    misses: int


class EvalReport(BaseModel):
    """Metrics of ``n`` generated samples against the test split, with real-vs-real floors.

    ``fid_floor`` / ``prdc_floor`` / ``domain_fid_floor`` compare ``n`` real *training* images
    with the same test reference: the best a perfect generator can score at this ``n`` (FID is
    biased upward at small ``n``, so read ``fid`` against ``fid_floor``).
    """

    dataset: str
    n: int
    reference_n: int | None = None
    seed: int
    metrics: list[str]
    fid: float | None = None
    fid_floor: float | None = None
    prdc: PRDC | None = None
    prdc_floor: PRDC | None = None
    domain: DomainMetrics | None = None
    domain_fid_floor: float | None = None
    inception: InceptionInfo | None = None
    classifier: ClassifierMeta | None = None
    cache: CacheInfo | None = None
    timings_s: dict[str, float] = Field(default_factory=dict)
    model: str | None = Field(default=None, description="The evaluated model file, if any.")
    notes: list[str] = Field(default_factory=list)
    prism_secure_version: str = __version__
    created_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def save(self, path: Path) -> None:
        """Write the report as JSON, atomically."""
        write_text_atomic(Path(path), self.model_dump_json(indent=2) + "\n")

    def summary_rows(self) -> list[tuple[str, str, str]]:
        """(metric, value, floor) rows for a table; absent metrics are left out."""

        def f(x: float | None) -> str:
            return "-" if x is None else f"{x:.4g}"

        rows: list[tuple[str, str, str]] = []
        if self.fid is not None:
            rows.append(("FID (Inception)", f(self.fid), f(self.fid_floor)))
        if self.prdc is not None:
            fl = self.prdc_floor
            for name in ("precision", "recall", "density", "coverage"):
                rows.append(
                    (name, f(getattr(self.prdc, name)), f(getattr(fl, name) if fl else None))
                )
        if self.domain is not None:
            d = self.domain
            rows.append(("domain FID", f(d.domain_fid), f(self.domain_fid_floor)))
            rows.append(("classes covered", f"{d.classes_covered}/{d.num_classes}", "-"))
            rows.append(("label KL to uniform", f(d.label_kl_uniform), "-"))
        return rows
