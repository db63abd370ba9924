"""The TCP example end to end: separate processes carry SecAgg messages over loopback sockets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

RUN = Path(__file__).resolve().parents[3] / "examples" / "secagg_tcp" / "run.py"


def test_tcp_example_reports_an_exact_sum(tmp_path: Path) -> None:
    # 4 clients, threshold 3, one client vanishes after sharing keys (before its masked input)
    cmd = [sys.executable, str(RUN), "--clients", "4", "--threshold", "3", "--length", "200"]
    cmd += ["--drop", "1"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    out = subprocess.run(
        cmd, capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env, check=False
    )
    text = out.stdout + out.stderr
    assert out.returncode == 0, text
    assert "sum matches the plaintext sum: True" in out.stdout, text
    assert "survivors [1, 2, 3]" in out.stdout, text  # client 0 dropped before its masked input
