"""The Flower example end to end on loopback: a real SuperLink and real SuperNode processes.

One federation, one round, 11 SuperNodes, threshold 6: one node's update holds a NaN (its mod
refuses it, naming it), and one node fails at each protocol phase after that (share, masked
input, consistency, unmask). The round must go on, sum exactly the nodes whose masked input is
in, and match the plain weighted mean of their updates within the stated quantisation bound;
every process started must be gone afterwards. Its ClientApps are forked, one process per
message (``--forked-apps``): the PRISM process tests run theirs resident, the default.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from prism_secure.protocols.adapters.flower.processes import processes_mentioning

pytest.importorskip("flwr")
RUN = Path(__file__).resolve().parents[4] / "examples" / "flower_secagg" / "run.py"
FAULTS = "1:0:update:nan;1:1:share:error;1:2:masked:error;1:3:consistency:error;1:4:unmask:error"


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_example_with_a_refused_update_and_a_dropout_at_every_phase(tmp_path: Path) -> None:
    workdir = tmp_path / "federation"
    argv = [sys.executable, str(RUN), "--nodes", "11", "--rounds", "1", "--threshold", "6"]
    # Failing nodes answer at once with an error; the deadlines only bound a loaded machine.
    argv += ["--train-timeout", "300", "--phase-timeout", "120", "--forked-apps"]
    start = time.monotonic()
    done = subprocess.run(
        [*argv, "--faults", FAULTS, "--workdir", str(workdir)],
        capture_output=True,
        text=True,
        timeout=540,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    print(f"11 SuperNodes, 1 round: {time.monotonic() - start:.1f} s")
    assert "ok: 11 SuperNodes, 1 rounds" in done.stdout
    [row] = [line for line in done.stdout.splitlines() if line.strip().startswith("1 ")]
    # 0 was refused and 1, 2 left before their masked input; 3 and 4 left after it: summed
    assert row.split()[1] == "3,4,5,6,7,8,9,10"
    assert "0@advertise" in row and "1@share" in row and "2@masked" in row
    assert "3@consistency" in row and "4@unmask" in row
    assert "round 1 refused partition 0: non-finite 'weight' (protocol client" in done.stdout
    assert (workdir / "flwr-home" / "config.toml").is_file()  # Flower's state stayed in there
    assert processes_mentioning(str(workdir)) == []
