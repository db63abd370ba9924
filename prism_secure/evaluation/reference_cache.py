"""On-disk cache of reference features (a dataset split through a feature network), as npz.

A real split's features cost ~0.2 s per image through Inception on a CPU, so they are computed once
per (dataset, split, n, network sha256, preprocessing) and reused. Files are written atomically
and read with ``allow_pickle=False``.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from prism_secure.artifacts.atomic import write_atomic
from prism_secure.evaluation.fid import GaussianStats

CACHE_ENV_VAR = "PRISM_SECURE_CACHE"


def default_cache_dir() -> Path:
    """``$PRISM_SECURE_CACHE``, else ``$XDG_CACHE_HOME/prism-secure``, else ``~/.cache/...``."""
    env = os.environ.get(CACHE_ENV_VAR)
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "prism-secure"


def resolve_cache_dir(cache_dir: Path | str | None) -> Path:
    return Path(cache_dir) if cache_dir is not None else default_cache_dir()


def _safe(part: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", part)


class FeatureCache:
    """Reference features keyed by their provenance; counts hits and misses for the report."""

    def __init__(self, cache_dir: Path | str | None = None) -> None:
        self.root = resolve_cache_dir(cache_dir) / "reference"
        self.hits = 0
        self.misses = 0

    def path_for(self, *, dataset: str, split: str, n: int, network_id: str, extra: str) -> Path:
        digest = hashlib.sha256(f"{network_id}|{extra}".encode()).hexdigest()[:16]
        name = f"{_safe(dataset)}-{split}-n{n}-{_safe(network_id)[:16]}-{digest}.npz"
        return self.root / name

    def get_or_compute(
        self,
        *,
        dataset: str,
        split: str,
        n: int,
        network_id: str,
        extra: str,
        compute: Callable[[], np.ndarray],
    ) -> tuple[np.ndarray, GaussianStats, Path]:
        """Features and their Gaussian stats, from disk if present, else computed and stored."""
        path = self.path_for(dataset=dataset, split=split, n=n, network_id=network_id, extra=extra)
        loaded = self._load(path, network_id, extra)
        if loaded is not None:
            self.hits += 1
            return (*loaded, path)
        self.misses += 1
        features = np.asarray(compute(), dtype=np.float32)
        stats = GaussianStats.from_features(features)
        buf = io.BytesIO()
        np.savez(
            buf,
            features=features,
            mu=stats.mu,
            sigma=stats.sigma,
            n=np.int64(stats.n),
            network_id=np.array(network_id),
            extra=np.array(extra),
        )
        write_atomic(path, lambda fh: fh.write(buf.getvalue()))
        return features, stats, path

    @staticmethod
    def _load(path: Path, network_id: str, extra: str) -> tuple[np.ndarray, GaussianStats] | None:
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                if str(z["network_id"]) != network_id or str(z["extra"]) != extra:
                    return None  # a hash-prefix collision: recompute rather than trust it
                stats = GaussianStats(mu=z["mu"], sigma=z["sigma"], n=int(z["n"]))
                return z["features"], stats
        except (OSError, ValueError, KeyError):
            return None  # unreadable or from an older layout: recompute and overwrite
