"""Typed errors users can catch; each names what went wrong and where to look."""

from __future__ import annotations


class PrismError(Exception):
    """Base class of every error prism-secure raises on purpose."""


class ConfigError(PrismError, ValueError):
    """A configuration value is invalid; the message names the field."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class DataNotFoundError(PrismError, FileNotFoundError):
    """A dataset is missing from its root and downloading is not allowed or failed."""


class RunDirError(PrismError):
    """A run directory is missing, incomplete, or inconsistent with the request."""


class ModelFileError(PrismError, ValueError):
    """An exported model file is malformed, truncated, or of an unknown version."""
