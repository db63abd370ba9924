"""Where datasets live: ``--data-dir``, then ``$PRISM_SECURE_DATA``, then a user cache folder."""

from __future__ import annotations

import os
from pathlib import Path

ENV_DATA = "PRISM_SECURE_DATA"


def user_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "prism-secure"


def resolve_data_root(explicit: Path | None) -> Path:
    if explicit is not None:
        return Path(explicit).expanduser()
    env = os.environ.get(ENV_DATA)
    if env:
        return Path(env).expanduser()
    return user_cache_dir() / "data"
