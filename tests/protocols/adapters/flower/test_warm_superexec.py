"""The warm SuperExec's own machinery: its node addresses, liveness, forked tasks, node loops.

Its use with real SuperNodes is tested where the federations run: the PRISM process tests and
the adapter example test both serve their SuperNodes with it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from prism_secure.protocols.adapters.flower.processes import alive, free_ports, run_forked
from prism_secure.protocols.adapters.flower.warm_superexec import Peers, WarmNode, main, node_loop

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork and /proc")


def test_node_addresses_parse_and_bad_ones_are_refused() -> None:
    assert WarmNode.parse("127.0.0.1:9094@42") == WarmNode(address="127.0.0.1:9094", pid=42)
    assert WarmNode.parse("[::1]:9094").pid is None
    for bad in ("9094", "127.0.0.1", "host:port", "127.0.0.1:9094@0", "a b:1"):
        with pytest.raises((ValidationError, ValueError)):
            WarmNode.parse(bad)


def test_a_superlink_over_tls_names_its_ca_file(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_bytes(b"-----BEGIN CERTIFICATE-----\n")
    link = WarmNode.parse("127.0.0.1:9092@7", ca)
    assert link.ca == ca and link.certificates() == ca.read_bytes()
    assert WarmNode.parse("127.0.0.1:9092").certificates() is None  # plain HTTP
    with pytest.raises(ValidationError):
        WarmNode.parse("127.0.0.1:9092", tmp_path / "missing.pem")


def test_peers_named_in_a_file_are_awaited_and_a_bad_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "peers.json"
    with pytest.raises(SystemExit, match="no peers named"):
        Peers.await_file(path, timeout=0.2)
    peers = Peers(nodes=[WarmNode.parse("127.0.0.1:9094@42")], superlink=WarmNode.parse("[::1]:1"))
    peers.write(path)
    assert Peers.await_file(path, timeout=0.2) == peers and not list(tmp_path.glob("*.tmp"))
    path.write_text('{"nodes": [], "superlink": null, "extra": 1}')
    with pytest.raises(ValidationError):
        Peers.await_file(path)
    path.write_text('{"nodes": [{"address": "host:port"}]}')
    with pytest.raises(ValidationError):
        Peers.await_file(path)


def test_it_refuses_to_start_with_nothing_to_serve(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--preload", "json"])
    assert exc.value.code == 2 and "--superlink" in capsys.readouterr().err
    empty = tmp_path / "peers.json"
    Peers().write(empty)
    with pytest.raises(SystemExit, match="names no peer"):
        main(["--peers", str(empty)])


def test_a_running_process_is_alive_and_an_ended_or_zombie_one_is_not() -> None:
    assert alive(os.getpid()) and alive(None)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while alive(child.pid):  # exited but not yet reaped: a zombie
        assert time.monotonic() < deadline
        time.sleep(0.05)
    child.wait()
    assert not alive(child.pid)


def _exit_code(pid: int) -> int:
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def _raise_system_exit(code: int) -> None:
    raise SystemExit(code)


def _raise_error() -> None:
    raise RuntimeError("a ClientApp failed")


def test_a_forked_task_exits_with_its_code_and_a_failure_does_not_escape() -> None:
    assert _exit_code(run_forked(lambda: None)) == 0
    assert _exit_code(run_forked(_raise_system_exit, 3)) == 3
    assert _exit_code(run_forked(_raise_error)) == 1


def test_a_node_loop_ends_when_its_supernode_does() -> None:
    """No SuperNode answers at this port; the loop keeps asking until its pid is gone."""
    supernode = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    (port,) = free_ports(1)
    loop = run_forked(node_loop, WarmNode(address=f"127.0.0.1:{port}", pid=supernode.pid), 0.05)
    try:
        time.sleep(1.0)
        assert alive(loop), "the loop gave up while its SuperNode was alive"
        supernode.kill()
        supernode.wait()
        deadline = time.monotonic() + 30
        while True:
            pid, status = os.waitpid(loop, os.WNOHANG)
            if pid:
                assert os.waitstatus_to_exitcode(status) == 0
                break
            assert time.monotonic() < deadline, "the loop outlived its SuperNode"
            time.sleep(0.1)
    finally:
        supernode.kill()
        if alive(loop):
            os.kill(loop, 9)
            os.waitpid(loop, 0)


FORKED_EARLY = """
import gc, json, os, subprocess, sys, threading, time
from pathlib import Path
from prism_secure.protocols.adapters.flower.processes import alive, free_ports
from prism_secure.protocols.adapters.flower.warm_superexec import Peers, WarmNode, forked_early

log, (port,) = Path(sys.argv[1]), free_ports(1)
node = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
report = {}
with forked_early(["json"]) as warm:
    report["frozen"] = gc.get_freeze_count() > 0  # what the imports made, skipped by its forks
    time.sleep(0.3)
    report["session"] = os.getsid(warm.pid) == warm.pid  # not in this one's (a terminal's)
    report["waits"] = alive(warm.pid) and not log.exists()  # nothing written before its peers
    Peers(nodes=[WarmNode(address=f"127.0.0.1:{port}", pid=node.pid)], log=log).write(warm.peers)
    deadline = time.monotonic() + 30
    while "serving 1 SuperNode" not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline, "it never served"
        time.sleep(0.05)
    node.kill()
    node.wait()
    while alive(warm.pid):  # it ends with the node it serves
        assert time.monotonic() < deadline, "it outlived its node"
        time.sleep(0.05)
    report["folder_during"] = warm.peers.parent.is_dir()
report["folder_after"] = warm.peers.parent.exists()
with forked_early(["json"]) as waiting:  # never named peers: stopped on the way out
    pid = waiting.pid
report["stopped"] = not alive(pid)
stop = threading.Event()
threading.Thread(target=stop.wait).start()
with forked_early(["json"]) as none:  # a thread runs: no fork
    report["with_threads"] = none
stop.set()
print(json.dumps(report))
"""


def test_a_superexec_forked_early_serves_the_peers_named_later_and_logs_where_told(
    tmp_path: Path,
) -> None:
    # A fresh interpreter: this one may run threads or have computed with torch.
    log = tmp_path / "warm-superexec.log"
    env = {k: v for k, v in os.environ.items() if k != "FLWR_TELEMETRY_ENABLED"}
    done = subprocess.run(
        [sys.executable, "-c", FORKED_EARLY, str(log)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.splitlines()[-1]) == {
        "frozen": True,
        "session": True,
        "waits": True,
        "folder_during": True,
        "folder_after": False,
        "stopped": True,
        "with_threads": None,
    }
    # Flower's telemetry was on in the command that forked it (the test's environment sets
    # nothing), and off in the SuperExec, as in every process the federation starts.
    assert log.read_text().startswith(
        "warm SuperExec serving 1 SuperNode(s); Flower's telemetry off"
    )
