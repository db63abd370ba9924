"""The pure core of an audit: arrays in, report out, so it can be tested on planted leaks.

Four checks, each in its own function: the attacks with their ROC and threshold epsilon bound,
generator-free controls that flag a non-random split, the one-run canary audit, and the
uniformity of the server's recorded view.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from prism_secure.artifacts.schema import RoundTranscript
from prism_secure.audits.attacks.registry import ATTACKS, AttackInputs, AttackSkipped
from prism_secure.audits.canary import CanaryAudit, one_run_audit
from prism_secure.audits.controls import control_scores
from prism_secure.audits.metrics.epsilon_bounds import threshold_epsilon_lower_bound
from prism_secure.audits.metrics.roc import bootstrap_auc_ci, summarize_scores
from prism_secure.audits.report import AttackReport, AuditReport, RoundViewAudit
from prism_secure.audits.secagg_view import audit_secagg_views
from prism_secure.audits.settings import AuditSettings

Images = NDArray[np.float32]
Scores = dict[str, NDArray[np.float64]]


@dataclass
class AuditOutcome:
    report: AuditReport
    scores: dict[str, tuple[NDArray[np.float64], NDArray[np.float64]]] = field(default_factory=dict)


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


def _attack_reports(
    names: Sequence[str],
    scores: Scores,
    skipped: dict[str, str],
    seconds: dict[str, float],
    labels: NDArray[np.float64],
    settings: AuditSettings,
    claimed_epsilon: float | None,
    delta: float | None,
) -> tuple[list[AttackReport], list[str]]:
    """Each attack's ROC summary and threshold epsilon bound; findings above the claim."""
    reports: list[AttackReport] = []
    above: list[str] = []
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
            above.append(
                f"{name}: threshold epsilon lower bound {eps.epsilon_lower_bound:.3f} exceeds "
                f"the claimed epsilon {claimed_epsilon:.3f}"
            )
    return reports, above


def _control_warnings(
    inputs: AttackInputs, labels: NDArray[np.float64], settings: AuditSettings
) -> list[str]:
    """Scores that ignore the generator must not separate members: if they do, say so."""
    warnings = []
    for name, ctrl in control_scores(inputs).items():
        low, high = bootstrap_auc_ci(ctrl, labels, n_boot=settings.n_boot, seed=settings.seed)
        if low > 0.5 or high < 0.5:
            warnings.append(
                f"{name} (which ignores the generator) separates members from non-members "
                f"(AUC interval [{low:.3f}, {high:.3f}]): the split is not random, so the "
                "attack results above may reflect the records rather than the model"
            )
    return warnings


@dataclass
class _CanaryFindings:
    audit: CanaryAudit | None = None
    note: str = "no canaries in this run (train with --canaries M to enable the one-run audit)"
    warnings: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)


def _canary_findings(
    canaries: Images,
    inserted: NDArray[np.bool_],
    inputs: AttackInputs,
    names: Sequence[str],
    settings: AuditSettings,
    claimed_epsilon: float | None,
    delta: float | None,
) -> _CanaryFindings:
    """The one-run audit on the canaries, with the attacks that could score the candidates."""
    c_inputs = AttackInputs(
        candidates=canaries,
        generated=inputs.generated,
        population=inputs.population,
        reference_generated=inputs.reference_generated,
        embed_dim=settings.embed_dim,
        density_dim=settings.density_dim,
    )
    c_inputs._embedding = inputs.embedding  # same population, same fit: reuse it
    c_scores, _, _ = _run_attacks(names, c_inputs)
    if not c_scores:
        return _CanaryFindings(note="no attack could score the canaries")
    found = _CanaryFindings(
        audit=one_run_audit(
            c_scores, inserted, claimed_epsilon, delta=delta or 0.0, alpha=settings.alpha
        ),
        note="ok",
    )
    ctrl_audit = one_run_audit(
        control_scores(c_inputs), inserted, None, delta=0.0, alpha=settings.alpha
    )
    if ctrl_audit.epsilon_lower_bound > 0:
        found.warnings.append(
            "generator-free control scores predict which canaries were inserted "
            f"(bound {ctrl_audit.epsilon_lower_bound:.2f}): insertion was not a fair "
            "coin per canary, so the canary bound is not trustworthy"
        )
    if found.audit.violation:
        found.violations.append(
            f"canary audit: epsilon lower bound {found.audit.epsilon_lower_bound:.3f} at "
            f"{found.audit.confidence:.0%} confidence exceeds the claimed epsilon "
            f"{claimed_epsilon:.3f}: the privacy claim is FALSE"
        )
    return found


def _secagg_audits(
    transcripts: Sequence[RoundTranscript],
) -> tuple[list[RoundViewAudit], list[str]]:
    """The recorded server view of each round: uniform and independent of the inputs."""
    audits, failures = [], []
    for t in transcripts:
        view = audit_secagg_views(t.masked, t.inputs, t.bits)
        audits.append(RoundViewAudit(round_index=t.round_index, audit=view))
        failures += [f"secure aggregation round {t.round_index}: {f}" for f in view.failures]
    return audits, failures


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
    reports, above = _attack_reports(
        names, scores, skipped, seconds, labels, settings, claimed_epsilon, delta
    )
    violations = list(above) if settings.strict else []
    warnings = [] if settings.strict else list(above)
    warnings += _control_warnings(inputs, labels, settings)
    canary = _CanaryFindings()
    if canaries is not None and canary_inserted is not None:
        scored = [n for n in names if n not in skipped]
        canary = _canary_findings(
            canaries, canary_inserted, inputs, scored, settings, claimed_epsilon, delta
        )
    warnings += canary.warnings
    violations += canary.violations
    secagg, failures = _secagg_audits(transcripts)
    violations += failures
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
        canary=canary.audit,
        canary_note=canary.note,
        secagg=secagg,
        secagg_note="ok"
        if transcripts
        else "no transcript recorded (train with --record-transcript to enable)",
        warnings=warnings,
        violations=violations,
        seconds=time.perf_counter() - start,
    )
    return AuditOutcome(report=report, scores={n: (scores[n], labels) for n in scores})
