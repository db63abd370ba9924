"""The FID network on ONNX Runtime: the same TorchScript weights, about 2x faster on a CPU.

torch's CPU kernels reach ~6.6 images/s through InceptionV3 on 2 cores; ONNX Runtime runs the
identical graph at ~13 (``bench/inception_speed.py``). The TorchScript file is exported once to
ONNX and cached under the reference cache (keyed by its sha256), and an export is only kept after
its features match the TorchScript ones on a probe batch, so the backend can change the speed but
not the FID.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from prism_secure.evaluation.errors import InceptionLoadError

EXPORT_VERSION = "opset17-v1"
OPSET = 17
# Measured max |difference| between the two backends' pool3 features: ~1e-5 (values up to ~7).
PROBE_TOLERANCE = 1e-3
PROBE_IMAGES = 2


def onnx_runtime_available() -> bool:
    """Both halves are needed: ``onnx`` for torch's exporter, ``onnxruntime`` to run it."""
    return all(importlib.util.find_spec(name) is not None for name in ("onnx", "onnxruntime"))


def export_path(cache_dir: Path, network_sha256: str) -> Path:
    return cache_dir / "onnx" / f"inception-{network_sha256[:16]}-{EXPORT_VERSION}.onnx"


def probe_batch() -> torch.Tensor:
    """A fixed input in [-1, 1]: not secret, only a comparison point for the two backends."""
    gen = torch.Generator().manual_seed(0)
    return torch.rand(PROBE_IMAGES, 3, 299, 299, generator=gen) * 2 - 1


def _session(path: Path, threads: int | None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, int(threads or torch.get_num_threads()))
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _runner(session) -> Callable[[torch.Tensor], torch.Tensor]:
    name = session.get_inputs()[0].name

    def forward(x: torch.Tensor) -> torch.Tensor:
        feed = np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)
        return torch.from_numpy(session.run(None, {name: feed})[0])

    return forward


def _export(module: torch.jit.ScriptModule, target: Path) -> None:
    """Export to a temp file beside ``target``; the caller renames it once it passes the probe."""
    with warnings.catch_warnings():  # the TorchScript exporter is deprecated in recent torch
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (probe_batch(),),
            str(target),
            dynamo=False,
            input_names=["images"],
            output_names=["pool3"],
            dynamic_axes={"images": {0: "n"}, "pool3": {0: "n"}},
            opset_version=OPSET,
        )


def onnx_forward(
    module: torch.jit.ScriptModule,
    network_sha256: str,
    cache_dir: Path,
    threads: int | None,
) -> Callable[[torch.Tensor], torch.Tensor]:
    """ONNX Runtime forward for ``module``, exporting and checking it on first use.

    Raises ``InceptionLoadError`` when the export fails or disagrees with the TorchScript.
    """
    path = export_path(cache_dir, network_sha256)
    if path.is_file():
        try:
            return _runner(_session(path, threads))
        except Exception:  # a truncated or foreign file in the cache: export it again
            path.unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".export-", suffix=".onnx")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        try:
            _export(module, tmp)
            forward = _runner(_session(tmp, threads))
        except Exception as exc:  # exporter and runtime raise many types for unsupported graphs
            msg = f"could not run the FID network on ONNX Runtime: {exc}"
            raise InceptionLoadError(msg) from exc
        probe = probe_batch()
        with torch.inference_mode():
            expected = module(probe).reshape(PROBE_IMAGES, -1).float()
        got = forward(probe).reshape(PROBE_IMAGES, -1)
        diff = float((got - expected).abs().max()) if got.shape == expected.shape else float("inf")
        if not diff <= PROBE_TOLERANCE:
            raise InceptionLoadError(
                f"the ONNX export of the FID network differs from the TorchScript by {diff:.3g} "
                f"(tolerance {PROBE_TOLERANCE}); use --backend torch"
            )
        os.replace(tmp, path)  # ORT holds the model in memory; the rename keeps the session valid
    finally:
        tmp.unlink(missing_ok=True)
    return forward
