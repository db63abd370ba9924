"""Waiting for the sites: a late site is greeted within a poll, and a missing one ends the wait.

The real ClientApp answers the hello exchange; :class:`FakeGrid` plays the SuperLink, whose node
list grows while the server waits.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from prism_secure.federation.flower.client_app import app as client_app
from prism_secure.federation.flower.nodes import NodeMap, wait_for_sites


def _two_of_three_sites(fake_grid: type, tmp_path: Path, data_root: Path) -> tuple[object, NodeMap]:
    """Three configured sites, the third (node 102) not yet connected."""
    configs = {
        100 + cid: {
            "partition-id": cid,
            "num-partitions": 3,
            "data-dir": str(data_root),
            "state-dir": str(tmp_path / f"site-{cid}"),
        }
        for cid in range(3)
    }
    grid = fake_grid(client_app, configs)
    grid.online.discard(102)
    return grid, NodeMap(grid, partitions=3, deadline=5.0, poll=0.1, notice=lambda _: None)


def test_a_site_that_connects_late_is_greeted_within_a_poll(
    fake_grid: type, tmp_path: Path, data_root: Path
) -> None:
    grid, nodes = _two_of_three_sites(fake_grid, tmp_path, data_root)
    nodes.refresh()  # greets the two sites online; a first hello pays the ClientApp's imports
    assert nodes.known == 2
    threading.Timer(0.3, grid.online.add, args=(102,)).start()

    start = time.monotonic()
    wait_for_sites(nodes, 3, timeout=10.0)
    waited = time.monotonic() - start

    assert nodes.known == 3
    assert [nodes.node_of(cid) for cid in range(3)] == [100, 101, 102]
    assert 0.3 <= waited < 0.9  # a 1 s pause between looks would have waited past 1 s


def test_the_wait_ends_at_its_timeout_with_the_sites_it_has(
    fake_grid: type, tmp_path: Path, data_root: Path
) -> None:
    _, nodes = _two_of_three_sites(fake_grid, tmp_path, data_root)

    start = time.monotonic()
    wait_for_sites(nodes, 3, timeout=0.5)
    waited = time.monotonic() - start

    assert nodes.known == 2
    assert nodes.node_of(2) is None
    assert 0.5 <= waited < 1.5
