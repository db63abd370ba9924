"""The command line starts fast: what a site runs beside its SuperNode pays no torch import."""

from __future__ import annotations

import subprocess
import sys


def test_the_cli_starts_without_torch() -> None:
    """Every command (a site's SuperNode, a SuperExec, --help) starts in well under a second
    here: torch, numpy and the audits load only in the commands that use them."""
    probe = "import sys, prism_secure.cli.app; print(sorted({'torch', 'scipy'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
