"""The FID network: TF-FID's InceptionV3 (inception-2015-12-05), pool3 features, 2048 per image.

Where it comes from, in order: an explicit path, ``$PRISM_SECURE_INCEPTION``, then the download of
an installed FID library (torch-fidelity, torchmetrics, pytorch-fid). A file must be TorchScript
and is loaded with ``torch.jit.load``; nothing here unpickles a user's file. On a CPU the file runs
on ONNX Runtime when it is installed (``backend="auto"``), else on torch.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from prism_secure.evaluation.errors import InceptionLoadError, InceptionNotFoundError
from prism_secure.evaluation.images import check_images, inception_input, to_uint8
from prism_secure.evaluation.onnx_runtime import onnx_forward, onnx_runtime_available
from prism_secure.evaluation.reference_cache import resolve_cache_dir
from prism_secure.evaluation.runtime import torch_threads

ENV_VAR = "PRISM_SECURE_INCEPTION"
Backend = Literal["auto", "onnxruntime", "torch"]
BACKENDS: tuple[str, ...] = ("auto", "onnxruntime", "torch")
FEATURE_DIM = 2048
STANDARD_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
# Bumped whenever the preprocessing changes, so cached reference features are recomputed.
PREPROCESS_VERSION = "uint8-tf1bilinear299-v1"

_sha_memo: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """sha256 of a file, memoised on (path, size, mtime) since the network file is ~95 MB."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _sha_memo:
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        _sha_memo[key] = digest.hexdigest()
    return _sha_memo[key]


def resolve_inception_path(path: Path | str | None) -> Path | None:
    """The explicit path, else ``$PRISM_SECURE_INCEPTION``, else None (meaning: try a library)."""
    if path is None:
        env = os.environ.get(ENV_VAR)
        if not env:
            return None
        path, origin = Path(env), f"${ENV_VAR}"
    else:
        path, origin = Path(path), "--inception"
    if not path.is_file():
        raise InceptionNotFoundError(
            f"FID network not found at {path} (from {origin}); expected the TorchScript "
            "pt_inception-2015-12-05 file (input (N,3,299,299) in [-1,1], output (N,2048))"
        )
    return path


class InceptionExtractor:
    """uint8 or [-1, 1] images (N, 1|3, H, W) -> float32 pool3 features (N, 2048).

    Keeps a running count of images and seconds so callers can report throughput.
    """

    def __init__(
        self,
        forward: Callable[[torch.Tensor], torch.Tensor],
        *,
        network_id: str,
        source: str,
        device: torch.device,
        batch_size: int,
        threads: int | None,
        takes_uint8: bool = False,
        backend: str = "torch",
    ) -> None:
        self._forward = forward
        self.backend = backend
        self.network_id = network_id
        self.source = source
        self.device = device
        self.batch_size = batch_size
        self.threads = threads
        self._takes_uint8 = takes_uint8
        self.images_seen = 0
        self.seconds = 0.0

    @property
    def standard(self) -> bool:
        """True when the features are the standard TF-FID ones (the known file or a library)."""
        return self.network_id == STANDARD_SHA256 or self.network_id.startswith("lib:")

    @property
    def images_per_second(self) -> float | None:
        return self.images_seen / self.seconds if self.seconds > 0 else None

    def features(
        self, images: torch.Tensor, on_batch: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """Pool3 features of a batch of any size, computed ``batch_size`` images at a time.

        ``on_batch(k)`` is called after each ``k`` images, for progress bars.
        """
        images = to_uint8(check_images(images))
        out = np.empty((images.shape[0], FEATURE_DIM), dtype=np.float32)
        start = time.perf_counter()
        with torch_threads(self.threads), torch.inference_mode():
            for lo in range(0, images.shape[0], self.batch_size):
                chunk = images[lo : lo + self.batch_size].to(self.device)
                if self._takes_uint8:
                    x = chunk if chunk.shape[1] == 3 else chunk.expand(-1, 3, -1, -1)
                else:
                    x = inception_input(chunk)
                feats = self._forward(x)
                if isinstance(feats, (tuple, list)):
                    feats = feats[0]
                feats = feats.reshape(chunk.shape[0], -1)
                if feats.shape[1] != FEATURE_DIM:
                    raise InceptionLoadError(
                        f"FID network {self.source} returned {feats.shape[1]} features per image, "
                        f"expected {FEATURE_DIM} (pool3)"
                    )
                out[lo : lo + chunk.shape[0]] = feats.float().cpu().numpy()
                if on_batch is not None:
                    on_batch(chunk.shape[0])
        self.seconds += time.perf_counter() - start
        self.images_seen += images.shape[0]
        return out


def _default_batch_size(device: torch.device) -> int:
    # On CPU larger batches bring nothing (torch and ONNX Runtime alike, 16 to 64) and cost RAM.
    return 200 if device.type == "cuda" else 16


def _read_torchscript(path: Path, device: torch.device) -> torch.jit.ScriptModule:
    try:
        with warnings.catch_warnings():  # torch >= 2.10 flags TorchScript as deprecated
            warnings.simplefilter("ignore", FutureWarning)
            module = torch.jit.load(str(path), map_location=device).eval()
    except Exception as exc:  # torch raises RuntimeError/ValueError variants for bad files
        raise InceptionLoadError(
            f"{path} is not a TorchScript file torch.jit.load can read: {exc}"
        ) from exc
    return module


def _torch_forward(
    module: torch.jit.ScriptModule, device: torch.device
) -> Callable[[torch.Tensor], torch.Tensor]:
    if device.type == "cpu":
        # Freezing folds constants and lets oneDNN fuse convolutions: ~10% faster on CPU here.
        # An unusual scripted module may refuse; the unfrozen one computes the same features.
        with contextlib.suppress(Exception), warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            module = torch.jit.optimize_for_inference(torch.jit.freeze(module))
    return module


def _load_library(device: torch.device) -> tuple[Callable[[torch.Tensor], torch.Tensor], str, bool]:
    """The first installed FID library's InceptionV3, downloading its weights on first use."""
    if importlib.util.find_spec("torch_fidelity") is not None:
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

        net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"]).to(device).eval()
        return net, "torch_fidelity", True
    if importlib.util.find_spec("torchmetrics") is not None:
        from torchmetrics.image.fid import NoTrainInceptionV3

        net = NoTrainInceptionV3("inception-v3-compat", ["2048"]).to(device).eval()
        return net, "torchmetrics", True
    if importlib.util.find_spec("pytorch_fid") is not None:
        from pytorch_fid.inception import InceptionV3

        net = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[FEATURE_DIM]]).to(device).eval()
        # pytorch-fid wants [0, 1] and maps it to 2x - 1; our input is already TF1-resized to
        # 299, so its own resize is the identity and the numbers match the TorchScript path.
        return (lambda x: net((x + 1.0) / 2.0)), "pytorch_fid", False
    raise InceptionNotFoundError(
        "No FID network available. Either pass --inception PATH (or set "
        f"${ENV_VAR}) to the TorchScript pt_inception-2015-12-05 file, or install one of "
        "torch-fidelity, torchmetrics[image] or pytorch-fid, whose InceptionV3 weights "
        "download on first use."
    )


def _choose_backend(backend: str, device: torch.device) -> str:
    if backend not in BACKENDS:
        raise InceptionLoadError(f"backend: unknown {backend!r}; choose from {BACKENDS}")
    if backend == "onnxruntime":
        if device.type != "cpu":
            raise InceptionLoadError("backend: onnxruntime runs the FID network on the CPU only")
        if not onnx_runtime_available():
            raise InceptionLoadError(
                "backend: onnxruntime needs the onnx and onnxruntime packages "
                "(pip install onnx onnxruntime)"
            )
        return backend
    if backend == "auto":
        return "onnxruntime" if device.type == "cpu" and onnx_runtime_available() else "torch"
    return backend


def load_inception(
    path: Path | str | None = None,
    device: str | torch.device = "cpu",
    *,
    batch_size: int | None = None,
    threads: int | None = None,
    backend: Backend = "auto",
    cache_dir: Path | str | None = None,
) -> InceptionExtractor:
    """Load the FID network from ``path``/``$PRISM_SECURE_INCEPTION`` or an installed library.

    ``backend`` picks what runs a TorchScript file: ``auto`` is ONNX Runtime on a CPU where it is
    installed and works, else torch. The ONNX export is cached under ``cache_dir``.
    """
    dev = torch.device(device)
    bs = batch_size or _default_batch_size(dev)
    resolved = resolve_inception_path(path)
    chosen = _choose_backend(backend, dev)
    if resolved is not None:
        sha = file_sha256(resolved)
        with torch_threads(threads):
            module = _read_torchscript(resolved, dev)
            forward = None
            if chosen == "onnxruntime":
                cache = resolve_cache_dir(cache_dir)
                try:
                    forward = onnx_forward(module, sha, cache, threads)
                except InceptionLoadError as exc:
                    if backend == "onnxruntime":
                        raise
                    warnings.warn(f"{exc}; running it on torch instead", stacklevel=2)
                    chosen = "torch"
            if forward is None:
                forward = _torch_forward(module, dev)
        return InceptionExtractor(
            forward,
            network_id=sha,
            source=str(resolved),
            device=dev,
            batch_size=bs,
            threads=threads,
            backend=chosen,
        )
    if backend == "onnxruntime":
        raise InceptionLoadError(
            "backend: onnxruntime runs a TorchScript file; pass --inception PATH "
            f"(or set ${ENV_VAR})"
        )
    forward, lib, takes_uint8 = _load_library(dev)
    return InceptionExtractor(
        forward,
        network_id=f"lib:{lib}:inception-2015-12-05",
        source=lib,
        device=dev,
        batch_size=bs,
        threads=threads,
        takes_uint8=takes_uint8,
    )
