"""The prompter SuperNode: Flower's own SuperNode with its idle sleeps capped, and nothing else."""

from __future__ import annotations

import importlib
import inspect
import os
import subprocess
import sys
import time

import pytest

pytest.importorskip("flwr")

from prism_secure.protocols.adapters.flower import prompt_supernode  # noqa: E402
from prism_secure.protocols.adapters.flower.prompt_supernode import (  # noqa: E402
    BackoffClock,
    FlowerVersionError,
    loop_module,
    shorten_idle_wait,
)

MODULE = "prism_secure.protocols.adapters.flower.prompt_supernode"


def test_the_installed_supernode_loop_has_the_fixed_wait_this_cuts() -> None:
    from flwr.supercore.version import package_version

    module = loop_module(package_version)
    source = inspect.getsource(module.start_client_internal)
    assert "time.sleep(3)" in source  # the idle wait between empty pulls
    assert "time.sleep(0.5)" in inspect.getsource(module._push_messages)  # the reply wait


class _Recorder:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.waits.append(round(seconds, 6))


def test_idle_waits_double_up_to_the_longest_and_a_message_restarts_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recorder = _Recorder()
    monkeypatch.setattr(prompt_supernode, "time", recorder)
    clock = BackoffClock(0.5, first=0.05)
    for _ in range(6):
        clock.sleep(3)  # the loop's wait after an empty pull
    clock.sleep(0.5)  # waiting for a ClientApp's reply: a message came
    clock.sleep(3)
    clock.sleep(3)
    assert recorder.waits == [0.05, 0.1, 0.2, 0.4, 0.5, 0.5, 0.05, 0.05, 0.1]


def test_a_backoff_clock_really_sleeps_and_is_time_otherwise() -> None:
    clock = BackoffClock(0.2)
    start = time.monotonic()
    for _ in range(3):
        clock.sleep(3)
    assert 0.05 + 0.1 + 0.2 <= time.monotonic() - start < 2.0
    assert clock.monotonic is time.monotonic and clock.time is time.time
    for first, longest in ((0, 1.0), (-1.0, 1.0), (0.5, 0.1), (float("nan"), 1.0)):
        with pytest.raises(ValueError, match="idle waits"):
            BackoffClock(longest, first=first)


def test_another_flower_release_is_refused_rather_than_patched() -> None:
    with pytest.raises(FlowerVersionError, match="flwr 1.43.0 is installed"):
        loop_module("1.43.0")
    with pytest.raises(FlowerVersionError, match="flwr 2.0.1"):
        loop_module("2.0.1")


def test_shortening_the_wait_changes_only_the_loop_modules_clock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flwr.supercore.version import package_version

    module = loop_module(package_version)
    monkeypatch.setattr(module, "time", module.time)  # put back after the test
    clock = shorten_idle_wait(0.7)
    assert module.time is clock and clock.longest == 0.7
    cli = importlib.import_module("flwr.supernode.cli.flower_supernode")
    assert cli.sleep is time.sleep and time.sleep.__module__ == "time"  # nothing else changed


def test_every_other_argument_reaches_flower_supernode() -> None:
    out = subprocess.run(
        [sys.executable, "-m", MODULE, "--idle-wait", "0.2", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "FLWR_TELEMETRY_ENABLED": "0", "FLWR_DISABLE_UPDATE_CHECK": "1"},
    )
    assert out.returncode == 0, out.stderr
    assert "--superlink" in out.stdout and "--node-config" in out.stdout  # Flower's own help


@pytest.mark.parametrize("bad", ["0", "0.01", "-0.5", "nan"])
def test_a_longest_wait_below_the_first_is_refused(
    bad: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        prompt_supernode.main(["--idle-wait", bad, "--insecure"])
    assert exit_info.value.code == 2
    assert "--idle-wait must be at least 0.05 s" in capsys.readouterr().err
