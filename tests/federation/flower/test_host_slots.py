"""Training slots shared by the sites of one host: at most K at once, and no slot outlives its
holder, however the holder ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from prism_secure.federation.flower.host_slots import training_slot
from prism_secure.federation.flower.site import SiteError, read_site

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file locks")

HOLD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from prism_secure.federation.flower.host_slots import training_slot
    with training_slot(Path(sys.argv[1]), int(sys.argv[2])):
        print("holding", flush=True)
        time.sleep(600)
    """
)


def _holder(folder: Path, slots: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder), str(slots)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
    return proc


def _acquires_within(folder: Path, slots: int, seconds: float) -> bool:
    got = threading.Event()

    def take() -> None:
        with training_slot(folder, slots, poll=0.02):
            got.set()

    threading.Thread(target=take, daemon=True).start()
    return got.wait(seconds)


def test_k_slots_admit_k_holders_and_a_killed_holder_frees_its_slot(tmp_path: Path) -> None:
    folder = tmp_path / "slots"
    holders = [_holder(folder, 2), _holder(folder, 2)]
    try:
        assert not _acquires_within(folder, 2, 1.0)  # both slots are held
        holders[0].send_signal(signal.SIGKILL)  # a crashed ClientApp
        holders[0].wait()
        assert _acquires_within(folder, 2, 10.0)
    finally:
        for proc in holders:
            proc.kill()
            proc.wait()


def test_no_slots_configured_never_waits(tmp_path: Path) -> None:
    with training_slot(None, None), training_slot(tmp_path, None):
        pass
    assert not (tmp_path / "slot-0").exists()


def test_a_site_naming_slots_without_their_folder_is_refused(tmp_path: Path) -> None:
    base = {"partition-id": 0, "num-partitions": 2, "state-dir": str(tmp_path / "state")}
    with pytest.raises(SiteError, match="'train-slots' and 'train-slots-dir'"):
        read_site({**base, "train-slots": 2})
    with pytest.raises(SiteError, match="'train-slots'"):
        read_site({**base, "train-slots": 0, "train-slots-dir": str(tmp_path)})
    site = read_site({**base, "train-slots": 2, "train-slots-dir": str(tmp_path / "s")})
    assert site.train_slots == 2
    assert os.fspath(site.train_slots_dir) == str(tmp_path / "s")


def test_the_trial_gives_its_sites_as_many_slots_as_the_cores_hold() -> None:
    from prism_secure.config import build_config
    from prism_secure.federation.flower.local import train_slots

    def slots(threads: int | None, cores: int) -> int:
        return train_slots(build_config(None, {"training.threads": threads}), cores)

    assert slots(1, 2) == 2 and slots(1, 16) == 16
    assert slots(None, 2) == 1  # torch's default takes every core: one at a time
    assert slots(4, 2) == 1 and slots(2, 8) == 4
