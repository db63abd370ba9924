"""The run directory's names, and which files the differential-privacy guarantee covers.

Covered files carry only public parameters, released (noisy) statistics and what training
computes from them (post-processing), so the ``(epsilon, delta)`` in ``privacy.json`` bounds
what any of them reveals about a record. Operator-only files are read from records directly
(for audits and evaluation): they are outside the guarantee and must not be shared.
"""

from __future__ import annotations

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
