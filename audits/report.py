"""The audit's findings as one validated object, and its two human-facing renderings.

``audit.json`` is this model dumped; ``audit.md`` is a table a person can read; ``roc.png``
plots every attack's ROC on linear and log axes (the low-FPR corner is where leaks show).
"""

from __future__ import annotations

import io
from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, computed_field

from prism_secure.audits.canary import CanaryAudit
from prism_secure.audits.metrics.epsilon_bounds import ThresholdEpsilon
from prism_secure.audits.metrics.roc import RocSummary, roc_curve
from prism_secure.audits.secagg_view import SecAggViewAudit


class AttackReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    status: str
    """"ok", or "skipped: <why>"."""
    roc: RocSummary | None = None
    epsilon: ThresholdEpsilon | None = None
    seconds: float = 0.0


class RoundViewAudit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    round_index: int
    audit: SecAggViewAudit


class AuditReport(BaseModel):
    """Everything ``prism-secure audit`` found; ``violations`` non-empty means exit code 1."""

    model_config = ConfigDict(extra="forbid")

    run_dir: str
    dataset: str
    claimed_epsilon: float | None
    delta: float | None
    n_generated: int
    n_members: int
    n_nonmembers: int
    nonmember_source: str
    n_population: int
    reference_run: str | None
    seed: int
    attacks: list[AttackReport]
    canary: CanaryAudit | None
    canary_note: str
    secagg: list[RoundViewAudit]
    secagg_note: str
    warnings: list[str]
    violations: list[str]
    seconds: float

    @computed_field  # type: ignore[prop-decorator]
    @property
    def passed(self) -> bool:
        return not self.violations


def _num(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def attack_rows(report: AuditReport) -> list[list[str]]:
    """One row per attack: name, AUC [CI], TPR@1%, TPR@0.1%, eps lower bound, status."""
    rows = []
    for a in report.attacks:
        if a.roc is None:
            rows.append([a.name, "-", "-", "-", "-", a.status])
            continue
        r = a.roc
        rows.append(
            [
                a.name,
                f"{r.auc:.3f} [{r.auc_ci_low:.3f}, {r.auc_ci_high:.3f}]",
                _num(r.tpr_at_fpr.get("0.01")),
                _num(r.tpr_at_fpr.get("0.001")),
                _num(a.epsilon.epsilon_lower_bound if a.epsilon else None, 2),
                a.status,
            ]
        )
    return rows


ATTACK_HEADER = ["attack", "AUC [95% CI]", "TPR@1%FPR", "TPR@0.1%FPR", "eps LB", "status"]


def render_markdown(report: AuditReport) -> str:
    claim = "none (no DP)" if report.claimed_epsilon is None else f"{report.claimed_epsilon:.3g}"
    lines = [
        f"# Privacy audit of `{report.run_dir}`",
        "",
        f"**Verdict: {'PASS' if report.passed else 'VIOLATION'}**",
        "",
        f"- dataset {report.dataset}; claimed epsilon {claim}, delta {report.delta}",
        f"- {report.n_members} members vs {report.n_nonmembers} non-members "
        f"({report.nonmember_source}); {report.n_generated} generated samples; "
        f"{report.n_population} population records; seed {report.seed}",
        f"- reference generator: {report.reference_run or 'none'}",
        "",
        "## Membership inference",
        "",
        "| " + " | ".join(ATTACK_HEADER) + " |",
        "|" + "---|" * len(ATTACK_HEADER),
    ]
    lines += ["| " + " | ".join(row) + " |" for row in attack_rows(report)]
    lines += [
        "",
        "eps LB: empirical epsilon lower bound of the best threshold, Clopper-Pearson at 95%, "
        "Bonferroni over thresholds and attacks. Members were not randomised per record, so it "
        "is a diagnostic; the canary bound below is the rigorous one.",
        "",
        "## One-run canary audit",
        "",
    ]
    c = report.canary
    if c is None:
        lines.append(report.canary_note)
    else:
        lines += [
            f"{c.inserted} of {c.canaries} canaries inserted; epsilon lower bound "
            f"**{c.epsilon_lower_bound:.3f}** at {c.confidence:.0%} confidence "
            f"(claimed {claim}).",
        ]
        if c.best is not None:
            lines.append(
                f"Best: {c.best.attack}, {c.best.correct} of {c.best.guesses} guesses correct."
            )
    lines += ["", "## Secure-aggregation view", ""]
    if not report.secagg:
        lines.append(report.secagg_note)
    for r in report.secagg:
        a = r.audit
        worst_u = min(v.uniformity_p for v in a.clients)
        worst_i = min(v.independence_p for v in a.clients)
        lines.append(
            f"- round {r.round_index}: {len(a.clients)} clients, "
            f"{'pass' if a.passed else 'FAIL'} (min uniformity p {worst_u:.3g}, "
            f"min independence p {worst_i:.3g})"
        )
    if report.warnings:
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in report.warnings]
    if report.violations:
        lines += ["", "## VIOLATIONS", ""] + [f"- **{v}**" for v in report.violations]
    lines += ["", f"Audit took {report.seconds:.1f} s.", ""]
    return "\n".join(lines)


def render_roc_png(
    scores: Mapping[str, tuple[NDArray[np.float64], NDArray[np.float64]]],
) -> bytes:
    """ROC curves of every attack, linear and log-log, as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.5))
    for name, (s, y) in scores.items():
        fpr, tpr, _ = roc_curve(s, y)
        for ax in axes:
            ax.plot(fpr, tpr, label=name)
    for ax, scale in zip(axes, ("linear", "log"), strict=True):
        ax.plot([1e-4, 1], [1e-4, 1], "k--", lw=0.8, label="chance")
        ax.set_xscale(scale)
        ax.set_yscale(scale)
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        ax.set_title(f"ROC ({scale} axes)")
    axes[1].set_xlim(1e-3, 1)
    axes[1].set_ylim(1e-3, 1)
    axes[0].legend(loc="lower right", fontsize=8)
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()
