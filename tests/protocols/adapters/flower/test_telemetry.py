"""Flower's telemetry switched off in a process whose flwr was imported with it on, as in the
trial's command that forks the warm SuperExec: no post is attempted, no payload is built, and the
processes it starts inherit the switch."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from prism_secure.protocols.adapters.flower import telemetry

PROBE = """
import json, os, platform, subprocess, sys, urllib.error, urllib.request
from flwr.supercore import telemetry as flower
from flwr.supercore.telemetry import EventType, event
from prism_secure.protocols.adapters.flower import telemetry

posts, probes = [], []
def urlopen(request, timeout=None):  # no network: record the post, fail as offline would
    posts.append(request.full_url)
    raise urllib.error.URLError("offline")
urllib.request.urlopen = urlopen
real_architecture = platform.architecture
platform.architecture = lambda *a, **k: probes.append(1) or real_architecture(*a, **k)

report = {"enabled_before": telemetry.enabled()}
event(EventType.FLWR_CLIENTAPP_RUN_ENTER).result(timeout=30)
report["posts_before"], report["probes_before"] = len(posts), len(probes)
telemetry.disable()
report["enabled_after"] = telemetry.enabled()
report["result_after"] = event(EventType.FLWR_CLIENTAPP_RUN_LEAVE).result(timeout=30)
report["posts_after"], report["probes_after"] = len(posts), len(probes)
child = "import flwr.supercore.telemetry as t; print(t.FLWR_TELEMETRY_ENABLED)"
done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True)
report["child"] = done.stdout.strip()
print(json.dumps(report))
"""


def test_disabled_telemetry_posts_nothing_builds_nothing_and_is_inherited() -> None:
    env = {k: v for k, v in os.environ.items() if k != telemetry.ENV}  # Flower's default: on
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.splitlines()[-1]) == {
        "enabled_before": True,
        "posts_before": 1,  # on, Flower tried to post the event
        "probes_before": 1,
        "enabled_after": False,
        "result_after": telemetry.OFF,
        "posts_after": 1,  # nothing more was posted
        "probes_after": 1,  # and no payload was built
        "child": "0",
    }
