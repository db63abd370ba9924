"""The Flower example end to end on loopback: real SuperLink and SuperNodes, one command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("flwr")
RUN = Path(__file__).resolve().parents[4] / "examples" / "flower_secagg" / "run.py"


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline:
            found.append(cmdline)
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_example_matches_plain_fedavg_and_leaves_no_process(tmp_path: Path) -> None:
    workdir = tmp_path / "federation"
    done = subprocess.run(
        [sys.executable, str(RUN), "--nodes", "2", "--rounds", "1", "--workdir", str(workdir)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok: 2 SuperNodes, 1 rounds, matches plain FedAvg" in done.stdout
    assert (workdir / "flwr-home" / "config.toml").is_file()  # Flower's state stayed in there
    assert _processes_mentioning(str(workdir)) == []
