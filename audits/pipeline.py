"""The audit of one run: choose candidates, sample the generator, run attacks, bound epsilon.

:func:`audit_arrays` is the pure core (arrays in, report out) so that it can be tested on planted
leaks; :func:`audit_run_dir` loads a run directory into it and never writes into that run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from prism_secure.artifacts.schema import RoundTranscript, load_transcripts
from prism_secure.audits.attacks.registry import (
    ATTACKS,
    AttackInputs,
    AttackSkipped,
    parse_attack_names,
)
from prism_secure.audits.canary import one_run_audit
from prism_secure.audits.controls import control_scores
from prism_secure.audits.metrics.epsilon_bounds import threshold_epsilon_lower_bound
from prism_secure.audits.metrics.roc import bootstrap_auc_ci, summarize_scores
from prism_secure.audits.report import AttackReport, AuditReport, RoundViewAudit
from prism_secure.audits.rundir import RunDir, load_run_dir
from prism_secure.audits.secagg_view import audit_secagg_views
from prism_secure.errors import RunDirError

Images = NDArray[np.float32]
MIN_HOLDOUT = 100


class AuditSettings(BaseModel):
    """Knobs of an audit; defaults keep an audit of a default run within minutes on 2 cores."""

    model_config = ConfigDict(extra="forbid")

    attacks: list[str] = Field(default_factory=lambda: list(ATTACKS))
    n_samples: int = Field(default=10_000, ge=10)
    n_candidates: int = Field(default=1000, ge=10, description="Members (and as many non-members).")
    n_population: int = Field(default=2000, ge=50)
    n_boot: int = Field(default=1000, ge=10)
    embed_dim: int = Field(default=32, ge=2)
    density_dim: int = Field(default=6, ge=1)
    alpha: float = Field(default=0.05, gt=0, lt=1)
    seed: int = 0
    strict: bool = Field(
        default=False,
        description="Also fail when a threshold bound (not randomised) tops the claim.",
    )


@dataclass
class Candidates:
    """Indices chosen for the audit; non-members come from the holdout, else the test split."""

    members: NDArray[np.int64]
    nonmembers: NDArray[np.int64]
    nonmember_split: str
    population: NDArray[np.int64]
    """Indices into the test split, disjoint from any test-split non-members."""


@dataclass
class AuditOutcome:
    report: AuditReport
    scores: dict[str, tuple[NDArray[np.float64], NDArray[np.float64]]] = field(default_factory=dict)


def choose_candidates(
    rd: RunDir,
    test_size: int,
    settings: AuditSettings,
    exclude: set[int] | None = None,
    exclude_test: set[int] | None = None,
) -> Candidates:
    """Balanced member / non-member indices, avoiding canaries and a reference run's records:
    ``exclude`` in the train split, ``exclude_test`` in the test split."""
    rng = np.random.default_rng(settings.seed)
    m = rd.membership
    avoid = set(exclude or ()) | (set(m.canaries.candidates) if m.canaries else set())
    members = np.array(sorted(m.members - avoid), dtype=np.int64)
    holdout = np.array(sorted(set(m.holdout) - avoid), dtype=np.int64)
    test_perm = rng.permutation(test_size)
    if holdout.size >= MIN_HOLDOUT:
        nonmembers, split, population = holdout, "train-split holdout", test_perm
    else:
        half = test_size // 2
        pool = test_perm[:half]
        if exclude_test:
            pool = pool[~np.isin(pool, np.fromiter(exclude_test, dtype=np.int64))]
        nonmembers, split, population = pool, "test split", test_perm[half:]
    n = min(settings.n_candidates, members.size, nonmembers.size)
    if n < 10:
        raise RunDirError(
            f"{rd.path}: only {members.size} members and {nonmembers.size} non-members are "
            "usable; an audit needs at least 10 of each"
        )
    return Candidates(
        members=np.sort(rng.choice(members, n, replace=False)),
        nonmembers=np.sort(rng.choice(nonmembers, n, replace=False)),
        nonmember_split=split,
        population=np.sort(population[: settings.n_population]),
    )


def _run_attacks(
    names: Sequence[str], inputs: AttackInputs
) -> tuple[dict[str, NDArray[np.float64]], dict[str, str], dict[str, float]]:
    scores, skipped, seconds = {}, {}, {}
    for name in names:
        start = time.perf_counter()
        try:
            scores[name] = ATTACKS[name](inputs)
        except AttackSkipped as why:
            skipped[name] = str(why)
        seconds[name] = time.perf_counter() - start
    return scores, skipped, seconds


def audit_arrays(
    *,
    members: Images,
    nonmembers: Images,
    population: Images,
    generated: Images,
    settings: AuditSettings,
    claimed_epsilon: float | None,
    delta: float | None,
    reference_generated: Images | None = None,
    canaries: Images | None = None,
    canary_inserted: NDArray[np.bool_] | None = None,
    transcripts: Sequence[RoundTranscript] = (),
    meta: dict[str, str | int | None] | None = None,
) -> AuditOutcome:
    """Run the chosen attacks and every check on arrays; the report's verdict included."""
    start = time.perf_counter()
    meta = dict(meta or {})
    names = list(settings.attacks)
    labels = np.r_[np.ones(len(members)), np.zeros(len(nonmembers))]
    inputs = AttackInputs(
        candidates=np.concatenate([members, nonmembers]),
        generated=generated,
        population=population,
        reference_generated=reference_generated,
        embed_dim=settings.embed_dim,
        density_dim=settings.density_dim,
    )
    scores, skipped, seconds = _run_attacks(names, inputs)
    warnings: list[str] = []
    violations: list[str] = []
    reports: list[AttackReport] = []
    alpha_each = settings.alpha / max(1, len(scores))
    for name in names:
        if name in skipped:
            reports.append(AttackReport(name=name, status=f"skipped: {skipped[name]}"))
            continue
        roc = summarize_scores(
            scores[name],
            labels,
            n_boot=settings.n_boot,
            level=1 - settings.alpha,
            seed=settings.seed,
        )
        eps = threshold_epsilon_lower_bound(
            scores[name], labels, delta=delta or 0.0, alpha=alpha_each
        )
        reports.append(
            AttackReport(name=name, status="ok", roc=roc, epsilon=eps, seconds=seconds[name])
        )
        if claimed_epsilon is not None and eps.epsilon_lower_bound > claimed_epsilon:
            msg = (
                f"{name}: threshold epsilon lower bound {eps.epsilon_lower_bound:.3f} exceeds "
                f"the claimed epsilon {claimed_epsilon:.3f}"
            )
            (violations if settings.strict else warnings).append(msg)

    for name, ctrl in control_scores(inputs).items():
        low, high = bootstrap_auc_ci(ctrl, labels, n_boot=settings.n_boot, seed=settings.seed)
        if low > 0.5 or high < 0.5:
            warnings.append(
                f"{name} (which ignores the generator) separates members from non-members "
                f"(AUC interval [{low:.3f}, {high:.3f}]): the split is not random, so the "
                "attack results above may reflect the records rather than the model"
            )

    canary = None
    canary_note = "no canaries in this run (train with --canaries M to enable the one-run audit)"
    if canaries is not None and canary_inserted is not None:
        c_inputs = AttackInputs(
            candidates=canaries,
            generated=generated,
            population=population,
            reference_generated=reference_generated,
            embed_dim=settings.embed_dim,
            density_dim=settings.density_dim,
        )
        c_inputs._embedding = inputs.embedding  # same population, same fit: reuse it
        c_scores, _, _ = _run_attacks([n for n in names if n not in skipped], c_inputs)
        if c_scores:
            canary = one_run_audit(
                c_scores, canary_inserted, claimed_epsilon, delta=delta or 0.0, alpha=settings.alpha
            )
            canary_note = "ok"
            ctrl_audit = one_run_audit(
                control_scores(c_inputs), canary_inserted, None, delta=0.0, alpha=settings.alpha
            )
            if ctrl_audit.epsilon_lower_bound > 0:
                warnings.append(
                    "generator-free control scores predict which canaries were inserted "
                    f"(bound {ctrl_audit.epsilon_lower_bound:.2f}): insertion was not a fair "
                    "coin per canary, so the canary bound is not trustworthy"
                )
            if canary.violation:
                violations.append(
                    f"canary audit: epsilon lower bound {canary.epsilon_lower_bound:.3f} at "
                    f"{canary.confidence:.0%} confidence exceeds the claimed epsilon "
                    f"{claimed_epsilon:.3f}: the privacy claim is FALSE"
                )
        else:
            canary_note = "no attack could score the canaries"

    secagg: list[RoundViewAudit] = []
    secagg_note = "no transcript recorded (train with --record-transcript to enable)"
    for t in transcripts:
        view = audit_secagg_views(t.masked, t.inputs, t.bits)
        secagg.append(RoundViewAudit(round_index=t.round_index, audit=view))
        violations += [f"secure aggregation round {t.round_index}: {f}" for f in view.failures]

    report = AuditReport(
        run_dir=str(meta.get("run_dir", "")),
        dataset=str(meta.get("dataset", "")),
        claimed_epsilon=claimed_epsilon,
        delta=delta,
        n_generated=len(generated),
        n_members=len(members),
        n_nonmembers=len(nonmembers),
        nonmember_source=str(meta.get("nonmember_source", "given")),
        n_population=len(population),
        reference_run=None if meta.get("reference_run") is None else str(meta["reference_run"]),
        seed=settings.seed,
        attacks=reports,
        canary=canary,
        canary_note=canary_note,
        secagg=secagg,
        secagg_note=secagg_note if not transcripts else "ok",
        warnings=warnings,
        violations=violations,
        seconds=time.perf_counter() - start,
    )
    return AuditOutcome(report=report, scores={n: (scores[n], labels) for n in scores})


def _images_of(dataset: object, idx: NDArray[np.int64]) -> Images:
    """Images of ``dataset`` at ``idx`` as float32 numpy, fast when the dataset holds a tensor."""
    import torch

    data = getattr(dataset, "data", None)
    images = getattr(data, "images", None)
    if isinstance(images, torch.Tensor):
        return images[torch.from_numpy(idx)].numpy().astype(np.float32)
    getitem: Callable[[int], tuple[torch.Tensor, int]] = dataset.__getitem__  # type: ignore[attr-defined]
    return torch.stack([getitem(int(i))[0] for i in idx]).numpy().astype(np.float32)


def sample_generator(model_path: Path, n: int, seed: int) -> Images:
    """``n`` samples of a saved generator, in [-1, 1], as float32 numpy."""
    import torch

    from prism_secure.artifacts.model_file import load_generator
    from prism_secure.errors import ModelFileError

    try:
        gen = load_generator(model_path, device="cpu")
    except ModelFileError as exc:
        raise RunDirError(f"{model_path}: {exc}") from exc
    with torch.no_grad():
        return gen.sample(n, seed=seed).cpu().numpy().astype(np.float32)


def audit_run_dir(
    run_dir: Path,
    settings: AuditSettings,
    reference: Path | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> AuditOutcome:
    """Audit the run at ``run_dir`` (read only); ``reference`` is a run trained on other data."""
    from prism_secure.data.datasets import load_dataset

    settings = settings.model_copy(
        update={"attacks": parse_attack_names(",".join(settings.attacks))}
    )
    rd = load_run_dir(run_dir)
    ref = load_run_dir(reference, reference=True) if reference is not None else None
    if ref is not None and ref.config.data.dataset != rd.config.data.dataset:
        raise RunDirError(
            f"reference run {ref.path} is on {ref.config.data.dataset}, "
            f"the audited run on {rd.config.data.dataset}"
        )
    progress("loading data")
    train = load_dataset(rd.config.data, train=True)
    test = load_dataset(rd.config.data, train=False)
    rd.check_indices(len(train))  # type: ignore[arg-type]
    # the reference must not have seen any candidate: avoid its records in the split it used
    ref_train: set[int] = set()
    ref_test: set[int] = set()
    if ref is not None:
        seen = set(ref.membership.members)
        if ref.membership.canaries is not None:
            seen |= set(ref.membership.canaries.inserted)
        on_test = ref.config.data.split == "test"
        ref.check_indices(len(test if on_test else train))  # type: ignore[arg-type]
        (ref_test if on_test else ref_train).update(seen)
    cands = choose_candidates(
        rd,
        len(test),  # type: ignore[arg-type]
        settings,
        exclude=ref_train,
        exclude_test=ref_test,
    )
    nonmember_source = test if cands.nonmember_split == "test split" else train
    progress(f"sampling {settings.n_samples} images from the generator")
    generated = sample_generator(rd.model_path, settings.n_samples, settings.seed)
    reference_generated = None
    if ref is not None:
        reference_generated = sample_generator(
            ref.model_path, settings.n_samples, settings.seed + 1
        )
    canaries = canary_inserted = None
    if rd.membership.canaries is not None:
        c = rd.membership.canaries
        idx = np.array(sorted(c.candidates), dtype=np.int64)
        if ref_train & set(c.candidates):
            raise RunDirError(f"reference run {ref.path if ref else ''} trained on canary records")
        canaries = _images_of(train, idx)
        canary_inserted = np.isin(idx, np.array(c.inserted, dtype=np.int64))
    transcripts = load_transcripts(rd.transcript_path) if rd.transcript_path else []
    progress("running attacks")
    return audit_arrays(
        members=_images_of(train, cands.members),
        nonmembers=_images_of(nonmember_source, cands.nonmembers),
        population=_images_of(test, cands.population),
        generated=generated,
        settings=settings,
        claimed_epsilon=rd.privacy.claimed_epsilon,
        delta=rd.privacy.delta,
        reference_generated=reference_generated,
        canaries=canaries,
        canary_inserted=canary_inserted,
        transcripts=transcripts,
        meta={
            "run_dir": str(rd.path),
            "dataset": rd.config.data.dataset,
            "nonmember_source": cands.nonmember_split,
            "reference_run": None if ref is None else str(ref.path),
        },
    )
