"""The prompter SuperNode's heartbeat: declared and kept at the interval asked for, nowhere else."""

from __future__ import annotations

import importlib
import inspect

import pytest

pytest.importorskip("flwr")

from prism_secure.protocols.adapters.flower import heartbeat, prompt_supernode  # noqa: E402
from prism_secure.protocols.adapters.flower.heartbeat import (  # noqa: E402
    CONNECTION_MODULE,
    NAME,
    SENDER_MODULE,
    HeartbeatError,
    set_heartbeat,
)


@pytest.fixture
def flower_modules(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Both modules that hold the interval, put back as they were after the test."""
    modules = [importlib.import_module(name) for name in (CONNECTION_MODULE, SENDER_MODULE)]
    for module in modules:
        monkeypatch.setattr(module, NAME, getattr(module, NAME))
    return modules


def test_the_installed_supernode_declares_and_paces_by_the_names_this_sets(
    flower_modules: list[object],
) -> None:
    connection, sender = flower_modules
    declared = inspect.getsource(connection.http_request_response)  # type: ignore[attr-defined]
    assert declared.count(f"heartbeat_interval={NAME}") == 2  # activation and every heartbeat
    assert NAME in inspect.getsource(sender.HeartbeatSender._run)  # type: ignore[attr-defined]


def test_setting_the_interval_changes_both_modules_and_returns_flowers_own(
    flower_modules: list[object],
) -> None:
    from flwr.common import constant

    assert set_heartbeat(12.5) == 30.0  # flwr 1.42's own interval
    assert [getattr(m, NAME) for m in flower_modules] == [12.5, 12.5]
    assert constant.HEARTBEAT_DEFAULT_INTERVAL == 30  # Flower's constant itself is untouched
    assert set_heartbeat(10.0) == 12.5


@pytest.mark.parametrize("bad", [9.99, 0.0, -10.0, 1800.5, float("nan"), float("inf")])
def test_an_interval_the_superlink_would_refuse_is_refused_here(
    bad: float, flower_modules: list[object]
) -> None:
    with pytest.raises(ValueError, match="10-1800 s"):
        set_heartbeat(bad)
    assert [getattr(m, NAME) for m in flower_modules] == [30, 30]


def test_a_flower_that_keeps_the_interval_elsewhere_is_refused(
    flower_modules: list[object], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delattr(flower_modules[1], NAME)
    with pytest.raises(HeartbeatError, match=NAME):
        set_heartbeat(10.0)
    assert getattr(flower_modules[0], NAME) == 30  # nothing half-set


def test_the_supernode_command_refuses_a_bad_heartbeat(
    capsys: pytest.CaptureFixture[str],
    flower_modules: list[object],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loop = importlib.import_module(prompt_supernode.LOOP_MODULE)
    monkeypatch.setattr(loop, "time", loop.time)  # the idle wait is set first: put it back
    with pytest.raises(SystemExit) as exit_info:
        prompt_supernode.main(["--heartbeat", "5", "--insecure"])
    assert exit_info.value.code == 2
    assert "--heartbeat must be 10-1800 s" in capsys.readouterr().err
    assert heartbeat.DEFAULT == heartbeat.SHORTEST == 10.0


def test_a_trial_keeps_its_heartbeat_load_and_stays_within_what_a_superlink_accepts() -> None:
    from prism_secure.protocols.adapters.flower.heartbeat import PER_SECOND, for_federation

    assert [for_federation(n) for n in (1, 4, 10)] == [10.0, 10.0, 10.0]
    assert for_federation(50) == 30.0 and for_federation(10_000) == 1800.0
    for n in (10, 50, 100, 400):  # flwr 1.42 sends one every 0.8 x (interval - 5 s) per node
        assert n / (0.8 * (for_federation(n) - 5.0)) == pytest.approx(PER_SECOND)
