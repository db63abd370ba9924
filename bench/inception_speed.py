"""Benchmark of the FID network's throughput on the CPU: ONNX Runtime against torch, same run.

Both backends compute pool3 features of the same real MNIST test images (resized to 299 as FID
does); the backends alternate within each repeat so machine noise hits both alike. Reports the
median images/s of each, their ratio, and the largest feature difference. Usage::

    PRISM_SECURE_INCEPTION=../shared/models/pt_inception-2015-12-05-torchscript.pt \\
        python bench/inception_speed.py --threads 2 --images 96 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from prism_secure.evaluation.inception import load_inception
from prism_secure.evaluation.real_data import load_real

BACKENDS = ("onnxruntime", "torch")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--inception", type=Path, default=os.environ.get("PRISM_SECURE_INCEPTION"))
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--images", type=int, default=96)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--cache-dir", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    images, _ = load_real("mnist", args.data_dir, train=False, n=args.images)
    extractors = {}
    load_s = {}
    for backend in BACKENDS:
        t0 = time.perf_counter()
        extractors[backend] = load_inception(
            args.inception,
            threads=args.threads,
            batch_size=args.batch_size,
            backend=backend,
            cache_dir=args.cache_dir,
        )
        load_s[backend] = time.perf_counter() - t0
        extractors[backend].features(images[: args.batch_size])  # warm-up
    rates: dict[str, list[float]] = {b: [] for b in BACKENDS}
    feats: dict[str, np.ndarray] = {}
    for _ in range(args.repeats):
        for backend in BACKENDS:
            t0 = time.perf_counter()
            feats[backend] = extractors[backend].features(images)
            rates[backend].append(images.shape[0] / (time.perf_counter() - t0))
    ratios = [o / t for o, t in zip(rates["onnxruntime"], rates["torch"], strict=True)]
    result = {
        "threads": args.threads,
        "batch_size": args.batch_size,
        "images": int(images.shape[0]),
        "repeats": args.repeats,
        "images_per_s_median": {b: round(statistics.median(r), 2) for b, r in rates.items()},
        "images_per_s_all": {b: [round(x, 2) for x in r] for b, r in rates.items()},
        "ratio_median": round(statistics.median(ratios), 2),
        "ratio_range": [round(min(ratios), 2), round(max(ratios), 2)],
        "load_s": {b: round(s, 2) for b, s in load_s.items()},
        "max_abs_feature_diff": float(np.abs(feats["onnxruntime"] - feats["torch"]).max()),
        "max_abs_feature": float(np.abs(feats["torch"]).max()),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
