"""Protocol bytes inside Flower messages: one exchange per protocol phase, with a real deadline.

Our secure-aggregation messages are opaque bytes to Flower: each travels in one
:class:`flwr.app.ConfigRecord` named :data:`RECORD`, beside the stage it belongs to and the
round. :func:`exchange` pushes one message per node and pulls replies until all are in or the
phase's deadline passes (Flower's own ``send_and_receive`` only looks every 3 s); a node that
errs or stays silent is reported, never raised, so the protocol can treat it as a dropout. Every
exchange also counts the bytes Flower itself carried: the serialised objects of each message.
:func:`send_and_receive` is Flower's own exchange, as prompt, for every other message.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from flwr.app import ConfigRecord, Message, RecordDict
from flwr.supercore.inflatable.inflatable_object import get_all_nested_objects

from prism_secure.protocols.adapters.flower import prompt_pulls
from prism_secure.protocols.adapters.flower.bounded_pulls import bounded_until
from prism_secure.protocols.errors import MessageError

RECORD = "prism-secagg"
#: Seconds from a pull of replies to the next while replies come: the wait doubles after each
#: empty pull up to the caller's ``poll``. A protocol phase's replies come within a second of
#: each other, so the last is read soon; a long training phase costs a pull every ``poll``
#: seconds, as a fixed poll would.
FIRST_POLL = 0.05
Scalar = int | float | str | bytes | bool


class ReplyWaits:
    """The waits between pulls of replies: :data:`FIRST_POLL` s, doubling up to ``longest``."""

    def __init__(self, longest: float) -> None:
        self.first = min(FIRST_POLL, longest)
        self.longest, self.wait = longest, self.first

    def replied(self) -> None:
        """A pull brought a reply: the others are likely close behind."""
        self.wait = self.first

    def sleep(self, until: float | None) -> None:
        """Wait before the next pull, never past the monotonic time ``until``."""
        left = self.wait if until is None else min(self.wait, until - time.monotonic())
        time.sleep(max(0.0, left))
        self.wait = min(2 * self.wait, self.longest)


class FlowerPayloadError(MessageError):
    """A Flower message that does not carry a well-formed payload of ours."""


@dataclass(frozen=True)
class Payload:
    """What one of our records holds: its stage, round, protocol bytes and extra scalars."""

    stage: str
    round: int
    data: bytes
    fields: dict[str, Scalar] = field(default_factory=dict)


def pack(stage: str, round_index: int, data: bytes, **fields: Scalar) -> RecordDict:
    """One of our records as Flower content; ``fields`` are extra scalars (no nesting)."""
    reserved = {"stage", "round", "data"} & set(fields)
    if reserved:
        raise ValueError(f"fields may not be named {sorted(reserved)}")
    record = ConfigRecord({"stage": stage, "round": int(round_index), "data": bytes(data)})
    for key, value in fields.items():
        record[key] = value
    return RecordDict({RECORD: record})


def unpack(
    content: RecordDict, *, stage: str | None = None, round_index: int | None = None
) -> Payload:
    """Read our record; anything missing, mistyped or for another stage or round is refused."""
    try:
        record = content.config_records[RECORD]
    except (KeyError, AttributeError, TypeError):
        raise FlowerPayloadError(RECORD, "the message carries no record of ours") from None
    values = dict(record)
    got_stage, got_round, data = (
        values.pop("stage", None),
        values.pop("round", None),
        values.pop("data", None),
    )
    if not isinstance(got_stage, str):
        raise FlowerPayloadError(f"{RECORD}.stage", "missing or not a string")
    if isinstance(got_round, bool) or not isinstance(got_round, int) or got_round < 0:
        raise FlowerPayloadError(f"{RECORD}.round", "missing or not a non-negative integer")
    if not isinstance(data, bytes):
        raise FlowerPayloadError(f"{RECORD}.data", "missing or not bytes")
    if stage is not None and got_stage != stage:
        raise FlowerPayloadError(f"{RECORD}.stage", f"expected {stage!r}, got {got_stage!r}")
    if round_index is not None and got_round != round_index:
        raise FlowerPayloadError(f"{RECORD}.round", f"expected {round_index}, got {got_round}")
    return Payload(got_stage, got_round, data, values)  # type: ignore[arg-type]


def carried_bytes(message: Message) -> int:
    """Bytes Flower serialises for ``message``: every object it pushes, header and body."""
    return sum(len(obj.deflate()) for obj in get_all_nested_objects(message).values())


@dataclass
class Exchange:
    """One phase's outcome, by destination node id."""

    replies: dict[int, Message] = field(default_factory=dict)
    errors: dict[int, str] = field(default_factory=dict)
    missing: set[int] = field(default_factory=set)
    bytes_down: dict[int, int] = field(default_factory=dict)
    bytes_up: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0


def exchange(
    grid: object,
    contents: Mapping[int, RecordDict],
    *,
    message_type: str,
    group_id: str,
    deadline: float,
    poll: float = 0.2,
) -> Exchange:
    """Send ``contents[node]`` to each node; collect replies until all arrive or ``deadline``.

    Replies are pulled at once, then :data:`FIRST_POLL` s after the first pull and after each
    pull that brought one, the wait doubling up to ``poll`` s while none comes.

    ``grid`` is the ServerApp's :class:`flwr.serverapp.Grid`. A node whose reply is an error
    (its ClientApp raised, the SuperLink found it unavailable, or its reply was still not
    uploaded at the deadline) is in ``errors`` with the reason; a node that did not answer in
    time is in ``missing``. The last pull starts at the deadline, so a reply that came in during
    the one before it counts, and no pull runs much past it (:mod:`.bounded_pulls`).
    """
    start = time.monotonic()
    prompt_pulls.install((prompt_pulls.SERVERAPP,))  # a reply read as soon as it is whole
    out = Exchange()
    messages = {
        node: Message(content, dst_node_id=node, message_type=message_type, group_id=group_id)
        for node, content in contents.items()
    }
    ids = list(grid.push_messages(messages.values()))  # type: ignore[attr-defined]
    pending: dict[str, int] = {}
    for (node, message), mid in zip(messages.items(), ids, strict=True):
        out.bytes_down[node] = carried_bytes(message)
        if mid:
            pending[mid] = node
        else:
            out.errors[node] = "Flower refused the message"
    ends, waits = start + deadline, ReplyWaits(poll)
    while pending:
        started = time.monotonic()
        with bounded_until(ends):  # a half-uploaded reply may not hold the others up
            replies = list(grid.pull_messages(list(pending)))  # type: ignore[attr-defined]
        if replies:
            waits.replied()
        for reply in replies:
            node = pending.pop(reply.metadata.reply_to_message_id, None)
            if node is None:
                continue
            if reply.has_error():
                out.errors[node] = f"Flower error {reply.error.code}: {reply.error.reason}"
            else:
                out.replies[node] = reply
                out.bytes_up[node] = carried_bytes(reply)
        if started >= ends:
            break  # the pull that began at the deadline was the last
        if pending:
            waits.sleep(ends)
    out.missing = set(pending.values())
    out.seconds = time.monotonic() - start
    return out


def send_and_receive(
    grid: object, messages: Iterable[Message], *, timeout: float | None, poll: float = 0.2
) -> list[Message]:
    """What Flower's ``Grid.send_and_receive`` does (push, then pull until every reply is in or
    ``timeout`` seconds have passed; ``None``: no limit), waiting as :func:`exchange` does, at
    most ``poll`` seconds, where flwr 1.42's grid asks every 3 s: a query answered within a
    second no longer takes three."""
    prompt_pulls.install((prompt_pulls.SERVERAPP,))
    pending = set(grid.push_messages(messages))  # type: ignore[attr-defined]
    ends = None if timeout is None else time.monotonic() + timeout
    replies: list[Message] = []
    waits = ReplyWaits(poll)
    while ends is None or time.monotonic() < ends:
        got = list(grid.pull_messages(list(pending)))  # type: ignore[attr-defined]
        replies += got
        pending -= {reply.metadata.reply_to_message_id for reply in got}
        if not pending:
            break
        if got:
            waits.replied()
        waits.sleep(ends)
    return replies
