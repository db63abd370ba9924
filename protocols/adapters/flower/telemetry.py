"""Flower's usage telemetry: off in every process of a one-machine federation, and cheap when off.

flwr 1.42 posts an event to ``telemetry.flower.ai`` when each app process starts and when it
ends, and the ending process waits for that post; ``FLWR_TELEMETRY_ENABLED=0`` in the environment
when flwr is imported turns the posts off. The one-machine trial starts its processes with it
off, but its warm SuperExec is forked from the trial's own command, whose flwr was imported with
the user's environment: there every forked app posted two events (measured here, with no route
out: about 0.14 s of wall time per app, waiting for the post to fail).

Switched off, Flower still builds each event's payload on a thread (``platform`` probes that
start the ``file`` program: about 16 ms of CPU an event here) before it finds it will not send
it. :func:`disable` turns the posts off in this process and in the processes it starts, and skips
building the payload. A deployed SuperExec follows its environment (:func:`enabled`).
"""

from __future__ import annotations

import os
from typing import Any

ENV = "FLWR_TELEMETRY_ENABLED"
MODULE = "flwr.supercore.telemetry"
OFF = "disabled"  # what flwr's create_event returns when nothing is sent


class TelemetryError(RuntimeError):
    """This Flower does not switch its telemetry where flwr 1.42 does."""


def enabled() -> bool:
    """Whether this process's environment leaves Flower's telemetry on (Flower's default)."""
    return os.environ.get(ENV, "1") == "1"


def _nothing_sent(event_type: Any, event_details: Any = None) -> str:
    return OFF


def disable() -> None:
    """Flower's telemetry off here and in every process started from here on."""
    import importlib

    os.environ[ENV] = "0"  # children that import flwr afresh
    module = importlib.import_module(MODULE)
    if getattr(module, ENV, None) not in ("0", "1") or not callable(
        getattr(module, "create_event", None)
    ):
        raise TelemetryError(f"{MODULE} holds no {ENV} flag and create_event as flwr 1.42's does")
    setattr(module, ENV, "0")  # read at each event, so this process's flwr sends nothing
    module.create_event = _nothing_sent  # type: ignore[attr-defined] - and builds nothing
