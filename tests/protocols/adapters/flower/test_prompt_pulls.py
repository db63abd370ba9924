"""Object pulls ask again within 0.05 s: a message whose objects come a moment late is read then.

The pulls are Flower's own ``pull_objects``, reached through the modules that call it; only the
object source is played here: it answers "unavailable" until the object's upload is done.
"""

from __future__ import annotations

import importlib
import time

import pytest
from flwr.supercore.inflatable import inflatable_utils
from flwr.supercore.inflatable.inflatable_utils import ObjectPullError, ObjectUnavailableError

from prism_secure.protocols.adapters.flower import bounded_pulls, prompt_pulls
from prism_secure.protocols.adapters.flower.prompt_pulls import (
    FIRST_WAIT,
    MODULES,
    PromptPullError,
    install,
    marked,
)


class Upload:
    """An object that becomes available ``after`` seconds from now."""

    def __init__(self, after: float) -> None:
        self.ready, self.asked = time.monotonic() + after, 0

    def pull(self, object_id: str) -> bytes:
        self.asked += 1
        if time.monotonic() < self.ready:
            raise ObjectUnavailableError(object_id)
        return object_id.encode()


def _timed_pull(pull: object, upload: Upload, **limits: object) -> float:
    start = time.monotonic()
    assert pull(["a", "b"], upload.pull, **limits) == {"a": b"a", "b": b"b"}  # type: ignore[operator]
    return time.monotonic() - start


def test_an_object_that_comes_late_is_read_as_soon_as_it_is_there() -> None:
    install()
    pull = inflatable_utils.pull_objects  # what a ClientApp's pull of its message calls
    assert marked(pull, "prompt")
    assert _timed_pull(pull, Upload(0.1)) < 0.6  # asked again after 0.05, 0.1, 0.2 s
    # Flower's own waits a second (+-20%) after the first "unavailable"
    assert _timed_pull(pull.__wrapped__, Upload(0.1)) > 0.75


def test_the_callers_limits_still_hold() -> None:
    install()
    upload = Upload(60.0)  # never comes within the test
    start = time.monotonic()
    with pytest.raises(ObjectPullError):
        inflatable_utils.pull_objects(["a"], upload.pull, max_tries_per_object=4)
    assert time.monotonic() - start < 1.0 and upload.asked == 4  # 0.05 + 0.1 + 0.2 s of waits
    with pytest.raises(ObjectPullError):
        inflatable_utils.pull_objects(["a"], Upload(60.0).pull, max_time=0.3)


def _marks(function: object, mark: str) -> int:
    count = 0
    while function is not None:
        count += bool(getattr(function, mark, False))
        function = getattr(function, "__wrapped__", None)
    return count


def test_every_module_is_wrapped_once_and_stacks_with_the_exchange_bound() -> None:
    for _ in range(2):
        install()
        bounded_pulls.install()  # the ServerApp's grid: both wrappers, in either order
    for name in MODULES:
        assert _marks(importlib.import_module(name).pull_objects, "prompt") == 1
    grid = importlib.import_module(prompt_pulls.SERVERAPP)
    assert _marks(grid.pull_objects, "bounded") == 1
    with bounded_pulls.bounded_until(time.monotonic() + 5.0):
        assert _timed_pull(grid.pull_objects, Upload(0.1)) < 0.6
    assert FIRST_WAIT < 0.1


def test_a_flower_that_pulls_otherwise_is_refused_whole() -> None:
    before = inflatable_utils.pull_objects
    with pytest.raises(PromptPullError, match="json has no pull_objects"):
        install((prompt_pulls.CLIENTAPP, "json"))
    assert inflatable_utils.pull_objects is before  # nothing was changed
