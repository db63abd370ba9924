"""ImageNet VGG19-BN perceptual features, as the paper uses them, when the weights can be had.

The paper (after GFMN) matches the mean and variance of the outputs of all 16 ReLU layers of
VGG19-BN at 32 x 32, every position of every map: about 303,000 features. This map does the
same (``layers=None``, ``pool=None``), each entry bounded as in ``bounded`` so the clip norm
never binds. The weights are public (ImageNet), so using them costs no privacy; they come from
torchvision's download or from a local state-dict file read with ``weights_only=True``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn
from torchvision.models import VGG19_BN_Weights, vgg19_bn

from prism_secure.features.base import FeatureMap
from prism_secure.features.bounded import SQUASH, resized, tapped_stages, three_channels
from prism_secure.features.errors import FeatureWeightsError, WeightsMismatchError

__all__ = ["FeatureWeightsError", "VGGFeatures", "load_vgg19_bn"]

NUM_RELUS = 16


def load_vgg19_bn(weights_path: Path | None = None) -> nn.Module:
    """torchvision's vgg19_bn with ImageNet weights: a local state dict, else the download."""
    net = vgg19_bn(weights=None)
    try:
        if weights_path is not None:
            state = torch.load(weights_path, map_location="cpu", weights_only=True)
        else:
            state = VGG19_BN_Weights.IMAGENET1K_V1.get_state_dict(progress=False)
    except Exception as exc:  # noqa: BLE001 - any failure means: no weights here
        raise FeatureWeightsError(
            "VGG19-BN ImageNet weights are unavailable "
            f"({type(exc).__name__}: {exc}). Pass features.vgg_weights = PATH to a "
            "torchvision vgg19_bn state dict, or use features.kind = 'rff+randconv', "
            "which needs no download."
        ) from exc
    try:
        net.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise WeightsMismatchError(f"not a torchvision vgg19_bn state dict: {exc}") from exc
    return net.eval().requires_grad_(False)


class VGGFeatures(FeatureMap):
    def __init__(
        self,
        weights_path: Path | None = None,
        layers: Sequence[int] | None = None,
        resolution: int = 32,
        pool: int | None = None,
        squash: float = SQUASH,
    ) -> None:
        super().__init__()
        layers = list(range(NUM_RELUS)) if layers is None else sorted(set(layers))
        if not layers or layers[0] < 0 or layers[-1] >= NUM_RELUS:
            raise ValueError(f"layers must lie in 0..{NUM_RELUS - 1}, got {layers}")
        features = load_vgg19_bn(weights_path).features
        relus = [i for i, m in enumerate(features) if isinstance(m, nn.ReLU)]
        self.taps = tuple(relus[k] for k in layers)
        self.body = features[: self.taps[-1] + 1]
        self.resolution, self.pool, self.squash = resolution, pool, squash
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
        self.requires_grad_(False)
        with torch.no_grad():
            self.dim = int(self(torch.zeros(1, 1, resolution, resolution)).shape[1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = resized((three_channels(x) + 1) / 2, self.resolution)
        h = (x - self.mean) / self.std
        return tapped_stages(self.body, h, self.taps, self.pool, self.squash)
