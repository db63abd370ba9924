"""Typed errors of the pretrained feature maps: missing extras, missing or mismatched weights."""

from __future__ import annotations

from prism_secure.errors import PrismError


class FeatureWeightsError(PrismError):
    """Pretrained feature-extractor weights are unavailable or do not fit the architecture."""


class PretrainedExtraMissing(FeatureWeightsError, ImportError):
    """A pretrained feature map needs packages of an optional extra that are not installed."""

    def __init__(self, extra: str, missing: str) -> None:
        self.extra, self.missing = extra, missing
        super().__init__(
            f"this feature map needs {missing!r}, from the optional extra: "
            f"pip install 'prism-secure[{extra}]'"
        )


class WeightsMismatchError(FeatureWeightsError, ValueError):
    """A state dict's tensors do not match the architecture one to one."""
