"""A ServerApp's pull of a reply that ends at its exchange's deadline, not minutes later.

A Flower reply reaches the ServerApp in two steps: ``pull_messages`` asks the SuperLink for the
replies that are in, then fetches each reply's objects. flwr 1.42's HTTP grid fetches them with
``pull_objects`` at its defaults: up to 500 tries per object within 7,200 s, the wait between
tries doubling to 10 s. A site killed while it uploads a reply leaves objects that never come, so
that one call blocks for minutes, and no other site's reply is read meanwhile. Seen on loopback:
one pull took 186 s against a 90 s deadline, and a live site's reply was lost.

Inside :func:`bounded_until`, the grid's object pulls stop at the given time (plus
:data:`GRACE`, for a reply whose upload is under way at the deadline), retrying at most every
:data:`LONGEST_WAIT` s. A reply cut off this way comes back as Flower's own error reply
("objects are unavailable"), which the exchange records as that node's dropout. Outside it,
Flower's defaults apply. This changes this process's grid only.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import inspect
import time
from collections.abc import Callable, Iterator
from typing import Any

from prism_secure.protocols.adapters.flower.prompt_pulls import marked

GRID_MODULE = "flwr.superlink.grid.http_grid"  # the ServerApp's grid; it calls pull_objects
NAME = "pull_objects"
GRACE = 1.0  # seconds past the deadline for a reply whose upload is under way
LONGEST_WAIT = 1.0  # seconds between tries for one object, at most (Flower's own: 10 s)
_KEYWORDS = {"max_time", "max_tries_per_object", "backoff_cap"}

_ends: contextvars.ContextVar[float | None] = contextvars.ContextVar("pull_ends", default=None)


class BoundedPullError(RuntimeError):
    """This Flower's grid does not pull a reply's objects the way flwr 1.42's does."""


def _bounded(original: Callable[..., dict[str, bytes]]) -> Callable[..., dict[str, bytes]]:
    def pull_objects(*args: Any, **kwargs: Any) -> dict[str, bytes]:
        ends = _ends.get()
        if ends is not None:
            kwargs["max_time"] = max(0.0, ends - time.monotonic())
            kwargs["backoff_cap"] = min(kwargs.get("backoff_cap", LONGEST_WAIT), LONGEST_WAIT)
        return original(*args, **kwargs)

    pull_objects.__wrapped__ = original  # type: ignore[attr-defined]
    pull_objects.bounded = True  # type: ignore[attr-defined]
    return pull_objects


def install() -> None:
    """Route the grid's object pulls through the bound (once per process; idempotent)."""
    module = importlib.import_module(GRID_MODULE)
    current = getattr(module, NAME, None)
    if marked(current, "bounded"):
        return
    if not callable(current):
        raise BoundedPullError(f"{GRID_MODULE} has no {NAME}")
    missing = _KEYWORDS - set(inspect.signature(current).parameters)
    if missing:
        raise BoundedPullError(f"{GRID_MODULE}.{NAME} takes no {sorted(missing)}")
    setattr(module, NAME, _bounded(current))


@contextlib.contextmanager
def bounded_until(deadline: float) -> Iterator[None]:
    """Object pulls started inside end by ``deadline`` (``time.monotonic``) + :data:`GRACE`."""
    install()
    token = _ends.set(deadline + GRACE)
    try:
        yield
    finally:
        _ends.reset(token)
