"""Flower's own SuperNode, asking the SuperLink again sooner when it finds no message.

flwr 1.42's SuperNode loop (``flwr.supernode.start_client_internal``) sleeps a fixed 3 s after
every pull that finds nothing, and it pulls right after it has pushed a reply, before any server
can have the next message ready. So every message exchange waits about 3 s for the node's next
pull, whatever either side computes, and a secure-aggregation round is five exchanges. The
SuperNode has no option for that wait.

This runs Flower's ``flower-supernode`` entry point unchanged, in this process, with the sleeps of
that one module replaced by a backoff: after a message the node asks again within 0.05 s, then
after twice as long each time it finds nothing, up to ``--idle-wait`` seconds. Protocol phases
follow each other within a second or two, so the next one is seen almost at once; a node that
waits out a long training exchange asks about once every ``--idle-wait`` seconds. The loop's
0.5 s waits for a ClientApp's reply become 0.05 s, and such a wait is how the clock knows that a
message came. Everything else is Flower's: the arguments, TLS, node authentication, isolation
modes, the messages. It also declares a shorter heartbeat interval (``--heartbeat``, 10 s by
default, see :mod:`~prism_secure.protocols.adapters.flower.heartbeat`), so that a site that dies
is reported to the server within 20 s rather than a minute.

Run it as ``python -m prism_secure.protocols.adapters.flower.prompt_supernode --idle-wait 1
FLOWER-SUPERNODE-ARGUMENTS...`` (or ``prism-secure flower supernode``). Only flwr 1.42 is known to
have this loop; under another version it refuses to start rather than guess.
"""

from __future__ import annotations

import argparse
import sys
import time
import types
from collections.abc import Sequence

from prism_secure.protocols.adapters.flower import heartbeat, prompt_pulls

FLOWER_SERIES = "1.42."  # the releases whose SuperNode loop this was read against
LOOP_MODULE = "flwr.supernode.start_client_internal"
FIRST_WAIT = 0.05  # seconds: the first wait after a message, doubled after each empty pull
LONGEST_WAIT = 1.0  # seconds: the default cap of those waits (Flower's own fixed wait: 3)


class FlowerVersionError(RuntimeError):
    """The installed Flower is not a release whose SuperNode loop is known."""


class BackoffClock:
    """``time`` as the SuperNode loop sees it: idle sleeps that grow from ``first`` to ``longest``.

    The loop sleeps ``IDLE_SLEEP`` (3 s) after each pull that found nothing, and shorter sleeps
    (0.5 s) only while it handles a message; so a short sleep restarts the backoff.
    """

    IDLE_SLEEP = 3.0

    def __init__(self, longest: float, first: float = FIRST_WAIT) -> None:
        if not (first > 0 and longest >= first):
            raise ValueError(f"idle waits need 0 < first <= longest, got {first} and {longest}")
        self.first, self.longest = first, longest
        self.next_idle = first

    def sleep(self, seconds: float) -> None:
        if seconds >= self.IDLE_SLEEP:
            wait, self.next_idle = self.next_idle, min(2 * self.next_idle, self.longest)
        else:
            wait, self.next_idle = self.first, self.first
        time.sleep(min(seconds, wait))

    def __getattr__(self, name: str) -> object:
        return getattr(time, name)


def loop_module(version: str) -> types.ModuleType:
    """Flower's SuperNode loop module, once the version and the module's clock are as read."""
    if not version.startswith(FLOWER_SERIES):
        raise FlowerVersionError(
            f"flwr {version} is installed; the SuperNode's idle wait is known only for flwr "
            f"{FLOWER_SERIES}x: run flower-supernode itself"
        )
    import importlib

    module = importlib.import_module(LOOP_MODULE)
    if getattr(module, "time", None) is not time:
        raise FlowerVersionError(f"{LOOP_MODULE} does not use the time module as flwr 1.42 does")
    return module


def shorten_idle_wait(longest: float) -> BackoffClock:
    """Give Flower's SuperNode loop, in this process, idle waits of at most ``longest`` seconds."""
    from flwr.supercore.version import package_version

    clock = BackoffClock(longest)
    loop_module(package_version).time = clock  # type: ignore[attr-defined]
    prompt_pulls.install((prompt_pulls.SUPERNODE,))  # a message's objects, once it is in
    return clock


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], add_help=False
    )  # --help and every other argument go to flower-supernode unchanged
    parser.add_argument(
        "--idle-wait",
        type=float,
        default=LONGEST_WAIT,
        help="the longest wait between pulls while no message comes (Flower's own: 3 s)",
    )
    parser.add_argument(
        "--heartbeat",
        type=float,
        default=heartbeat.DEFAULT,
        help="the heartbeat interval the node declares (Flower's own: 30 s)",
    )
    args, rest = parser.parse_known_args(argv)
    try:
        shorten_idle_wait(args.idle_wait)
    except ValueError:  # the clock's own check: NaN or under FIRST_WAIT
        parser.error(f"--idle-wait must be at least {FIRST_WAIT} s")
    except FlowerVersionError as exc:
        parser.exit(2, f"error: {exc}\n")
    try:
        heartbeat.set_heartbeat(args.heartbeat)
    except ValueError:
        parser.error(f"--heartbeat must be {heartbeat.SHORTEST:g}-{heartbeat.LONGEST:g} s")
    except heartbeat.HeartbeatError as exc:
        parser.exit(2, f"error: {exc}\n")
    from flwr.supernode.cli import flower_supernode

    sys.argv = ["flower-supernode", *rest]
    flower_supernode()


if __name__ == "__main__":
    main()
