"""Errors of the audit suite; subclasses of the project's typed errors so callers catch one base."""

from __future__ import annotations

from prism_secure.errors import PrismError


class AuditInputError(PrismError, ValueError):
    """Scores, labels or samples handed to an audit are malformed; the message names which."""
