"""Numpy-only metrics of membership-inference scores: ROC, TPR at low FPR, epsilon lower bounds.

Kept free of torch so that a report can be recomputed from saved scores anywhere.
"""

from prism_secure.audits.metrics.epsilon_bounds import (
    clopper_pearson,
    one_run_epsilon_lower_bound,
    one_run_p_value,
    threshold_epsilon_lower_bound,
)
from prism_secure.audits.metrics.roc import (
    RocSummary,
    auc_score,
    bootstrap_auc_ci,
    roc_curve,
    summarize_scores,
    tpr_at_fpr,
)

__all__ = [
    "RocSummary",
    "auc_score",
    "bootstrap_auc_ci",
    "clopper_pearson",
    "one_run_epsilon_lower_bound",
    "one_run_p_value",
    "roc_curve",
    "summarize_scores",
    "threshold_epsilon_lower_bound",
    "tpr_at_fpr",
]
