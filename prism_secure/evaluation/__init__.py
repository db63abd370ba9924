"""Evaluation of generators: Inception FID, precision/recall/density/coverage, fast domain metrics.

Public API::

    from prism_secure.evaluation import evaluate_samples, EvalReport, domain_metrics
"""

from prism_secure.evaluation.domain import domain_metrics
from prism_secure.evaluation.domain_classifier import ClassifierSpec, load_or_train_classifier
from prism_secure.evaluation.errors import (
    EvaluationError,
    InceptionLoadError,
    InceptionNotFoundError,
)
from prism_secure.evaluation.evaluate import evaluate_samples
from prism_secure.evaluation.fid import GaussianStats, frechet_distance
from prism_secure.evaluation.inception import load_inception
from prism_secure.evaluation.prdc import PRDC, compute_prdc
from prism_secure.evaluation.report import EvalReport

__all__ = [
    "PRDC",
    "ClassifierSpec",
    "EvalReport",
    "EvaluationError",
    "GaussianStats",
    "InceptionLoadError",
    "InceptionNotFoundError",
    "compute_prdc",
    "domain_metrics",
    "evaluate_samples",
    "frechet_distance",
    "load_inception",
    "load_or_train_classifier",
]
