"""ImageNet VGG19-BN perceptual features, as in the paper, when the weights can be had.

The weights are public (ImageNet), so using them costs no privacy; they come from torchvision's
download or from a local state-dict file loaded with ``weights_only=True``.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torchvision.models import VGG19_BN_Weights, vgg19_bn

from prism_secure.errors import PrismError
from prism_secure.features.base import FeatureMap

_TAPS = (12, 25, 38, 51)  # ReLU outputs closing blocks 2-5 of torchvision's vgg19_bn.features


class FeatureWeightsError(PrismError):
    """Pretrained feature-extractor weights are unavailable."""


class VGGFeatures(FeatureMap):
    def __init__(self, weights_path: Path | None = None) -> None:
        super().__init__()
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
        net.load_state_dict(state)
        self.body = net.features[: _TAPS[-1] + 1].eval()
        self.body.requires_grad_(False)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
        self.dim = 128 + 256 + 512 + 512

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        x = F.interpolate((x + 1) / 2, size=64, mode="bilinear", align_corners=False)
        h = (x - self.mean) / self.std
        feats = []
        for i, layer in enumerate(self.body):
            h = layer(h)
            if i in _TAPS:
                feats.append(h.mean(dim=(2, 3)) / h.shape[1] ** 0.5)
        return torch.cat(feats, dim=1) * 0.5
