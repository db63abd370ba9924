"""A SuperNode that tells the SuperLink sooner when it is gone: a shorter heartbeat interval.

A SuperNode declares how often it will send a heartbeat; the SuperLink holds it online for
twice that interval after each one (``HEARTBEAT_PATIENCE``), and from then on answers every
message still waiting for that node with a "node unavailable" error. That error is how a server
learns that a site died without waiting out the exchange's deadline, which for a training
exchange may be many minutes. flwr 1.42's SuperNode always declares 30 s, so a killed site
looks alive for up to a minute; it has no option for it.

This sets the interval that the SuperNode's connection declares and its heartbeat thread keeps,
in this process only. The SuperLink accepts 10 s to 1800 s, so the shortest setting has a
killed site reported within 20 s. Each heartbeat is one small request every 0.8 x (interval -
5 s), about 4 s at 10 s.
"""

from __future__ import annotations

import importlib

CONNECTION_MODULE = "flwr.supernode.fleet_http_connection"  # declares the interval
SENDER_MODULE = "flwr.supercore.heartbeat"  # paces the heartbeats by it
NAME = "HEARTBEAT_DEFAULT_INTERVAL"
SHORTEST = 10.0  # seconds: flwr's HEARTBEAT_MIN_INTERVAL, the least a SuperLink accepts
LONGEST = 1800.0  # seconds: flwr's HEARTBEAT_MAX_INTERVAL
DEFAULT = SHORTEST  # what a prompter SuperNode declares (Flower's own: 30 s)
PER_SECOND = 2.5  # heartbeats a second that a one-machine federation spends in all


def for_federation(nodes: int) -> float:
    """The interval at which ``nodes`` SuperNodes on one machine send ``PER_SECOND`` in all.

    Each heartbeat costs the SuperLink and the node a request: on two cores, 50 nodes at 10 s made
    a round 1.3x slower than at 30 s, while 10 nodes at 10 s cost 0.015 cores. So a trial keeps
    the total rate that 10 nodes have at 10 s, and larger ones notice a dead node later.
    """
    seconds_between = 0.8  # flwr 1.42 sends one every 0.8 x (interval - 5 s)
    return min(LONGEST, max(SHORTEST, 5.0 + nodes / (seconds_between * PER_SECOND)))


class HeartbeatError(RuntimeError):
    """This Flower's SuperNode does not keep its heartbeat interval where flwr 1.42 does."""


def set_heartbeat(interval: float) -> float:
    """Have this process's SuperNode declare and keep ``interval`` seconds; return the old one."""
    from flwr.common import constant

    if not SHORTEST <= interval <= LONGEST:  # also refuses NaN
        raise ValueError(f"a heartbeat interval must be {SHORTEST:g}-{LONGEST:g} s, got {interval}")
    if (constant.HEARTBEAT_MIN_INTERVAL, constant.HEARTBEAT_MAX_INTERVAL) != (SHORTEST, LONGEST):
        raise HeartbeatError("this Flower accepts other heartbeat intervals than flwr 1.42")
    modules = [importlib.import_module(name) for name in (CONNECTION_MODULE, SENDER_MODULE)]
    old = {getattr(module, NAME, None) for module in modules}
    if len(old) != 1 or not isinstance(next(iter(old)), int | float):
        raise HeartbeatError(f"{CONNECTION_MODULE} and {SENDER_MODULE} do not both hold {NAME}")
    for module in modules:
        setattr(module, NAME, interval)
    return float(next(iter(old)))
