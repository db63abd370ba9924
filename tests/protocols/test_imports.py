"""The protocols never import torch: not the package, not any of its modules (HE included)."""

from __future__ import annotations

import subprocess
import sys


def test_protocols_never_import_torch() -> None:
    code = (
        "import importlib, pkgutil, sys\n"
        "import prism_secure.protocols as p\n"
        "for m in pkgutil.walk_packages(p.__path__, p.__name__ + '.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = sorted(k for k in sys.modules if k == 'torch' or k.startswith('torch.'))\n"
        "assert not bad, bad\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr
