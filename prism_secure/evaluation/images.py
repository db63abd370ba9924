"""Image conversions shared by every metric: one quantisation and one resize for all of them.

Generated samples are floats in [-1, 1]; real images are uint8. Both go through uint8 (as a PNG
written to disk would) so real and generated images meet the feature networks identically.
"""

from __future__ import annotations

import math

import torch

from prism_secure.evaluation.errors import EvaluationError


def check_images(images: torch.Tensor, what: str = "images") -> torch.Tensor:
    """Return ``images`` if it is a finite (N, C, H, W) batch with C in {1, 3}; else raise."""
    if not isinstance(images, torch.Tensor):
        raise EvaluationError(f"{what}: expected a torch.Tensor, got {type(images).__name__}")
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise EvaluationError(f"{what}: expected shape (N, 1|3, H, W), got {tuple(images.shape)}")
    if images.shape[0] == 0:
        raise EvaluationError(f"{what}: the batch is empty")
    if images.is_floating_point() and not bool(torch.isfinite(images).all()):
        raise EvaluationError(f"{what}: contains NaN or infinite values")
    return images


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Quantise floats in [-1, 1] to uint8 (values outside are clipped); uint8 passes through."""
    check_images(images)
    if images.dtype == torch.uint8:
        return images
    if not images.is_floating_point():
        raise EvaluationError(f"images: expected float in [-1, 1] or uint8, got {images.dtype}")
    scaled = (images.detach().float() + 1.0) * 127.5
    return scaled.round_().clamp_(0, 255).to(torch.uint8)


def uint8_to_unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 -> float in [-1, 1] (x / 127.5 - 1), the range the generators produce."""
    return images.float().div_(127.5).sub_(1.0)


def _tf1_bilinear_matrix(n_in: int, n_out: int, device: torch.device) -> torch.Tensor:
    """Rows interpolate like TF1 ``resize_bilinear`` with ``align_corners=False``.

    TF1 maps output pixel ``i`` to source coordinate ``i * n_in / n_out`` (no half-pixel offset),
    which is what the original TF-FID graph and torch-fidelity use; ``F.interpolate`` differs.
    """
    scale = n_in / n_out
    mat = torch.zeros(n_out, n_in, dtype=torch.float64)
    for i in range(n_out):
        src = i * scale
        lo = min(int(math.floor(src)), n_in - 1)
        hi = min(lo + 1, n_in - 1)
        frac = src - lo
        mat[i, lo] += 1.0 - frac
        mat[i, hi] += frac
    return mat.to(device=device, dtype=torch.float32)


def resize_tf1_bilinear(images: torch.Tensor, size: int) -> torch.Tensor:
    """Resize a float (N, C, H, W) batch to ``size`` x ``size`` the TF1 way (separable, exact)."""
    _, _, h, w = images.shape
    if h == size and w == size:
        return images
    rows = _tf1_bilinear_matrix(h, size, images.device)
    cols = _tf1_bilinear_matrix(w, size, images.device)
    return torch.einsum("oh,nchw,pw->ncop", rows, images, cols)


def inception_input(images_uint8: torch.Tensor, size: int = 299) -> torch.Tensor:
    """uint8 (N, 1|3, H, W) -> float (N, 3, size, size) in [-1, 1], as the TF-FID graph builds it.

    The graph casts to float, resizes bilinearly at 0..255, then maps ``(x - 128) / 128``; both
    steps are linear, so normalising first gives the same numbers. Grayscale is replicated.
    """
    x = images_uint8.float().sub_(128.0).div_(128.0)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    return resize_tf1_bilinear(x, size).contiguous()
