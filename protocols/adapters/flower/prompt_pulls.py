"""Object pulls that ask again within 0.05 s, not after a second.

flwr 1.42 moves a message in two steps: the message, then its objects (records and arrays),
each fetched by ``pull_objects``. A receiver that asks for an object before the sender has
finished uploading it is told it is unavailable and waits 1 s (+-20%) before it asks again, then
2, 4, up to 10 s. Every hop of a message meets this on loopback, where the receiver asks within
milliseconds:

- a SuperNode creates a ClientApp's task as soon as it has a message, and only then pulls the
  message's objects from the SuperLink, so the ClientApp's own pull of them from the SuperNode
  usually finds them missing and waits out the second;
- a SuperNode pulls a message whose objects the ServerApp is still pushing;
- a ServerApp asks for the replies that are in and finds one whose objects are still coming.

A protocol round is five or six such exchanges, so a round could wait seconds for nothing.
Installed, the ``pull_objects`` each of :data:`MODULES` calls retries first after
:data:`FIRST_WAIT` s, the wait doubling up to :data:`LONGEST_WAIT` s. The callers' limits on
tries and time stay as they are; with the shorter waits Flower's 500 tries of an object that
never comes end after about 8 minutes instead of 80.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Sequence
from typing import Any

CLIENTAPP = "flwr.supercore.inflatable.inflatable_utils"  # a ClientApp's pull of its message
SUPERNODE = "flwr.supernode.start_client_internal"  # a SuperNode's pull from the SuperLink
SERVERAPP = "flwr.superlink.grid.http_grid"  # a ServerApp's pull of the replies
MODULES = (CLIENTAPP, SUPERNODE, SERVERAPP)
NAME = "pull_objects"
FIRST_WAIT = 0.05  # seconds before the second try (Flower's own: 1)
LONGEST_WAIT = 1.0  # seconds between tries, at most (Flower's own: 10)
_KEYWORDS = {"initial_backoff", "backoff_cap"}


class PromptPullError(RuntimeError):
    """This Flower does not pull objects the way flwr 1.42 does."""


def marked(function: object, mark: str) -> bool:
    """Whether ``function`` or anything it wraps carries ``mark`` (wrappers stack)."""
    while function is not None:
        if getattr(function, mark, False):
            return True
        function = getattr(function, "__wrapped__", None)
    return False


def _prompt(original: Callable[..., dict[str, bytes]]) -> Callable[..., dict[str, bytes]]:
    def pull_objects(*args: Any, **kwargs: Any) -> dict[str, bytes]:
        kwargs["initial_backoff"] = min(kwargs.get("initial_backoff", FIRST_WAIT), FIRST_WAIT)
        kwargs["backoff_cap"] = min(kwargs.get("backoff_cap", LONGEST_WAIT), LONGEST_WAIT)
        return original(*args, **kwargs)

    pull_objects.__wrapped__ = original  # type: ignore[attr-defined]
    pull_objects.prompt = True  # type: ignore[attr-defined]
    return pull_objects


def install(modules: Sequence[str] = MODULES) -> None:
    """Make every listed module's object pulls prompt (once per process; idempotent).

    Checks every module before it changes any, so a Flower that differs is refused whole."""
    found = []
    for name in modules:
        module = importlib.import_module(name)
        current = getattr(module, NAME, None)
        if not callable(current):
            raise PromptPullError(f"{name} has no {NAME}")
        original = inspect.unwrap(current)
        missing = _KEYWORDS - set(inspect.signature(original).parameters)
        if missing:
            raise PromptPullError(f"{name}.{NAME} takes no {sorted(missing)}")
        found.append((module, current))
    for module, current in found:
        if not marked(current, "prompt"):
            setattr(module, NAME, _prompt(current))
