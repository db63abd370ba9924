"""Typed errors of the evaluation package; each names what is wrong and how to fix it.

They subclass :class:`prism_secure.errors.PrismError` so callers can catch every deliberate
failure of the project with one ``except``.
"""

from __future__ import annotations

from prism_secure.errors import PrismError


class EvaluationError(PrismError, ValueError):
    """Evaluation inputs are unusable (wrong shape, NaNs, unknown dataset or metric)."""


class InceptionNotFoundError(PrismError, FileNotFoundError):
    """No FID network is available: no path was given and no FID library is installed."""


class InceptionLoadError(PrismError, ValueError):
    """A file was given as the FID network but it is not a usable TorchScript Inception."""
