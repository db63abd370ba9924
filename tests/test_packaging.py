"""The installed layout: mapped packages under prism_secure, nothing stray at top level."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def _run(code: str, cwd: Path) -> str:
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def test_mapped_packages_import_under_prism_secure(tmp_path: Path) -> None:
    code = (
        "import importlib.util as u, prism_secure.protocols, prism_secure.audits, "
        "prism_secure.cli;"
        "print([u.find_spec(n) is None for n in ('protocols', 'audits', 'cli')])"
    )
    assert _run(code, tmp_path) == "[True, True, True]"


def test_console_script_is_installed(tmp_path: Path) -> None:
    out = subprocess.run(
        ["prism-secure", "--help"], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    for command in ("train", "sample", "evaluate", "audit"):
        assert command in out.stdout
