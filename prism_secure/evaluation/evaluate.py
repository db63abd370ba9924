"""``evaluate_samples``: generate ``n`` samples once, then score them with every metric asked for.

Samples are drawn in chunks (``sample_fn(chunk, chunk_seed)``) so a 10k evaluation never needs a
10k-sample forward pass; the chunk seeds derive from ``seed`` through numpy's SeedSequence, so the
same ``seed`` gives the same samples and different seeds give independent chunks.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch

from prism_secure.evaluation.domain import DomainMetrics, domain_metrics
from prism_secure.evaluation.domain_classifier import ClassifierSpec, load_or_train_classifier
from prism_secure.evaluation.errors import EvaluationError
from prism_secure.evaluation.fid import GaussianStats, fid_from_features
from prism_secure.evaluation.images import check_images, to_uint8
from prism_secure.evaluation.inception import (
    PREPROCESS_VERSION,
    Backend,
    InceptionExtractor,
    load_inception,
)
from prism_secure.evaluation.prdc import compute_prdc
from prism_secure.evaluation.real_data import SUBSET_RULE, check_dataset, load_real
from prism_secure.evaluation.reference_cache import FeatureCache, resolve_cache_dir
from prism_secure.evaluation.report import CacheInfo, EvalReport, InceptionInfo
from prism_secure.evaluation.runtime import torch_threads

METRICS = ("fid", "prdc", "domain")
PRDC_K = 5
SAMPLE_CHUNK = 500

SampleFn = Callable[[int, int], torch.Tensor]
# A progress hook: ``stage(description, total)`` returns ``advance(k)`` for that stage.
StageFn = Callable[[str, int], Callable[[int], None]]


def _no_stage(_description: str, _total: int) -> Callable[[int], None]:
    return lambda _k: None


def chunk_seed(seed: int, index: int) -> int:
    """Seed of the ``index``-th chunk of samples for a run ``seed`` (a 31-bit int)."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0] >> 1)


def draw_samples(sample_fn: SampleFn, n: int, seed: int, chunk: int = SAMPLE_CHUNK) -> torch.Tensor:
    """``n`` samples as uint8 (N, C, H, W), drawn ``chunk`` at a time."""
    parts = []
    for index, lo in enumerate(range(0, n, chunk)):
        want = min(chunk, n - lo)
        with torch.inference_mode():
            x = sample_fn(want, chunk_seed(seed, index))
        x = check_images(x, "sample_fn output")
        if x.shape[0] != want:
            raise EvaluationError(f"sample_fn({want}, seed) returned {x.shape[0]} samples")
        parts.append(to_uint8(x.cpu()))
    return torch.cat(parts)


def _parse_metrics(metrics: Iterable[str] | str) -> list[str]:
    items = metrics.split(",") if isinstance(metrics, str) else list(metrics)
    chosen = [m.strip().lower() for m in items if m.strip()]
    unknown = sorted(set(chosen) - set(METRICS))
    if unknown or not chosen:
        raise EvaluationError(f"metrics: unknown {unknown or 'none given'}; choose from {METRICS}")
    return [m for m in METRICS if m in chosen]


def evaluate_samples(
    sample_fn: SampleFn,
    dataset: str,
    data_root: Path | None,
    n: int = 10000,
    metrics: Iterable[str] | str = METRICS,
    inception: Path | None = None,
    cache_dir: Path | None = None,
    device: str = "cpu",
    seed: int = 0,
    floor: bool = True,
    *,
    threads: int | None = None,
    classifier_spec: ClassifierSpec | None = None,
    backend: Backend = "auto",
    log: Callable[[str], None] | None = None,
    stage: StageFn | None = None,
) -> EvalReport:
    """Score ``n`` samples of ``sample_fn`` against the test split of ``dataset``.

    ``sample_fn(n, seed)`` returns (n, C, H, W) floats in [-1, 1]. FID and PRDC use TF-FID
    Inception pool3 features; "domain" uses the cached small classifier. With ``floor`` the same
    metrics are computed for ``n`` real training images, the floor a perfect generator reaches.
    ``backend`` picks what runs the Inception file (see ``load_inception``); ``stage`` reports
    progress through the Inception passes, the slow part.
    """
    check_dataset(dataset)
    chosen = _parse_metrics(metrics)
    if n < PRDC_K + 1:
        raise EvaluationError(f"n must be at least {PRDC_K + 1}, got {n}")
    say = log or (lambda _msg: None)
    cache = FeatureCache(cache_dir)
    timings: dict[str, float] = {}
    report = EvalReport(dataset=dataset, n=n, seed=seed, metrics=chosen)
    with torch_threads(threads):
        extractor = None
        if "fid" in chosen or "prdc" in chosen:  # fail on a missing network before any work
            extractor = load_inception(
                inception, device, threads=threads, backend=backend, cache_dir=cache_dir
            )
        t0 = time.perf_counter()
        say(f"drawing {n} samples")
        samples = draw_samples(sample_fn, n, seed)
        timings["sampling"] = time.perf_counter() - t0
        if extractor is not None:
            _inception_metrics(
                report,
                samples,
                chosen,
                data_root,
                extractor,
                cache,
                floor,
                timings,
                say,
                stage or _no_stage,
            )
        if "domain" in chosen:
            t0 = time.perf_counter()
            say("domain metrics")
            spec = classifier_spec or ClassifierSpec()
            report.domain = DomainMetrics(
                **domain_metrics(samples, dataset, data_root, cache_dir, spec=spec)
            )
            _, report.classifier = load_or_train_classifier(dataset, data_root, cache_dir, spec)
            if floor:
                train_x, _ = load_real(dataset, data_root, train=True, n=n)
                floor_metrics = domain_metrics(train_x, dataset, data_root, cache_dir, spec=spec)
                report.domain_fid_floor = floor_metrics["domain_fid"]
            timings["domain"] = time.perf_counter() - t0
    report.timings_s = {k: round(v, 3) for k, v in timings.items()}
    report.cache = CacheInfo(
        dir=str(resolve_cache_dir(cache_dir)), hits=cache.hits, misses=cache.misses
    )
    if n < 10000:
        report.notes.append(
            f"n={n} < 10000: FID is biased upward at small n; compare fid with fid_floor, "
            "and only compare FIDs computed at the same n."
        )
    return report


def _inception_metrics(
    report: EvalReport,
    samples: torch.Tensor,
    chosen: list[str],
    data_root: Path | None,
    extractor: InceptionExtractor,
    cache: FeatureCache,
    floor: bool,
    timings: dict[str, float],
    say: Callable[[str], None],
    stage: StageFn,
) -> None:
    dataset, n = report.dataset, report.n
    extra = f"{PREPROCESS_VERSION}|{SUBSET_RULE}"

    def reference(train: bool) -> tuple[np.ndarray, GaussianStats]:
        split = "train" if train else "test"
        images, _ = load_real(dataset, data_root, train=train, n=n)
        say(f"reference features: {dataset} {split}, n={images.shape[0]} (cached after once)")
        feats, stats, _ = cache.get_or_compute(
            dataset=dataset,
            split=split,
            n=images.shape[0],
            network_id=extractor.network_id,
            extra=extra,
            compute=lambda: extractor.features(
                images, stage(f"Inception: real {split}", images.shape[0])
            ),
        )
        return feats, stats

    t0 = time.perf_counter()
    test_feats, _ = reference(train=False)
    train_feats = reference(train=True)[0] if floor else None
    timings["reference_features"] = time.perf_counter() - t0
    report.reference_n = int(test_feats.shape[0])

    before_images, before_seconds = extractor.images_seen, extractor.seconds
    t0 = time.perf_counter()
    say(f"Inception features of {n} samples")
    gen_feats = extractor.features(samples, stage("Inception: samples", samples.shape[0]))
    timings["sample_features"] = time.perf_counter() - t0
    images = extractor.images_seen - before_images
    seconds = extractor.seconds - before_seconds

    t0 = time.perf_counter()
    if "fid" in chosen:
        report.fid = fid_from_features(gen_feats, test_feats)
        if train_feats is not None:
            report.fid_floor = fid_from_features(train_feats, test_feats)
    timings["fid"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    if "prdc" in chosen:
        report.prdc = compute_prdc(test_feats, gen_feats, k=PRDC_K)
        if train_feats is not None:
            report.prdc_floor = compute_prdc(test_feats, train_feats, k=PRDC_K)
    timings["prdc"] = time.perf_counter() - t0
    report.inception = InceptionInfo(
        source=extractor.source,
        backend=extractor.backend,
        network_id=extractor.network_id,
        standard=extractor.standard,
        device=str(extractor.device),
        batch_size=extractor.batch_size,
        threads=extractor.threads if extractor.threads is not None else torch.get_num_threads(),
        images=images,
        seconds=round(seconds, 3),
        images_per_second=round(images / seconds, 3) if seconds > 0 else None,
    )
    if not extractor.standard:
        report.notes.append(
            f"FID network sha256 {extractor.network_id} is not the TF-FID inception-2015-12-05 "
            "file: values are not comparable with published FIDs."
        )
