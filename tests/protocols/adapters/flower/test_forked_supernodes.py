"""SuperNodes forked from one interpreter: each runs Flower's own entry point with its own args.

Their use in a federation (TLS, node authentication, a killed node) is tested where the
federations run: the PRISM process tests and the adapter example test start their SuperNodes
this way.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from pydantic import ValidationError

pytest.importorskip("flwr")

from prism_secure.protocols.adapters.flower.forked_supernodes import (  # noqa: E402
    ForkError,
    ForkSpec,
    NodeSpec,
    start,
)

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork and /proc")
MODULE = "prism_secure.protocols.adapters.flower.forked_supernodes"


def test_a_spec_names_each_node_and_refuses_what_it_does_not_know(tmp_path: Path) -> None:
    node = {"name": "supernode-0", "log": str(tmp_path / "0.log"), "argv": ["--insecure"]}
    assert ForkSpec.model_validate({"nodes": [node]}).heartbeat == 10.0
    for bad in (
        {"nodes": []},
        {"nodes": [{**node, "name": "../x"}]},
        {"nodes": [{**node, "extra": 1}]},
        {"nodes": [node], "preload": ["os"]},
    ):
        with pytest.raises(ValidationError):
            ForkSpec.model_validate(bad)


def test_each_forked_node_runs_flowers_supernode_with_its_own_arguments_and_log(
    tmp_path: Path,
) -> None:
    # --help makes a child print Flower's own usage to its own log and end; node 1's unknown
    # flag is refused by Flower's parser in node 1's log alone.
    argvs = [["--help"], ["--insecure", "--no-such-flag"], ["--help"]]
    nodes = [
        NodeSpec(name=f"supernode-{i}", log=tmp_path / f"{i}.log", argv=argv)
        for i, argv in enumerate(argvs)
    ]
    spec, pids = tmp_path / "spec.json", tmp_path / "pids.json"
    spec.write_text(ForkSpec(nodes=nodes).model_dump_json())
    done = subprocess.run(
        [sys.executable, "-m", MODULE, "--spec", str(spec), "--pids", str(pids)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    forked = json.loads(pids.read_text())
    assert sorted(forked) == ["supernode-0", "supernode-1", "supernode-2"]
    assert len(set(forked.values())) == 3
    logs = [(tmp_path / f"{i}.log").read_text() for i in range(3)]
    for log in (logs[0], logs[2]):
        assert "--superlink" in log and "--node-config" in log  # flower-supernode's own usage
        assert "no-such-flag" not in log
    assert "unrecognized arguments: --no-such-flag" in logs[1]
    assert "forked 3 SuperNode(s)" in done.stdout


def test_forking_is_refused_while_another_thread_runs(tmp_path: Path) -> None:
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        node = NodeSpec(name="n", log=tmp_path / "n.log", argv=["--help"])
        with pytest.raises(ForkError, match="threads run"):
            start(ForkSpec(nodes=[node]))
    finally:
        stop.set()
        thread.join()


def test_a_bad_spec_file_is_refused_before_anything_starts(tmp_path: Path) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"nodes": [{"name": "a b", "log": "x", "argv": []}]}))
    done = subprocess.run(
        [sys.executable, "-m", MODULE, "--spec", str(spec), "--pids", str(tmp_path / "p")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0 and "name" in done.stderr
    assert not (tmp_path / "p").exists()
