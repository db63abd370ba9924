"""The ClientApp mod and SecAggGrid on an in-process grid: Flower's codec, no processes.

Every message crosses Flower's own serialisation and every node's ``context.state`` is rebuilt
between messages, as a SuperNode does between ClientApp processes.
"""

from __future__ import annotations

import stat
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("flwr")

from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp.strategy import FedAvg

from prism_secure.protocols.adapters.flower import (
    InsecureParametersError,
    InsecureParametersWarning,
    QuantiseConfig,
    SecAggConfig,
    SecAggGrid,
    SecureRoundAborted,
    prism_secagg_mod,
)
from prism_secure.protocols.adapters.flower.errors import ClientStateMissing
from prism_secure.protocols.adapters.flower.memory_grid import MemoryGrid
from prism_secure.protocols.adapters.flower.transport import RECORD, FlowerPayloadError, pack

NODES = [101, 205, 307, 411, 513]  # Flower node ids; protocol ids are their ranks
CLIP = 4.0
GLOBAL = {
    "w": np.zeros((3, 4), np.float32),
    "b": np.zeros(2, np.float64),
    "n": np.arange(5, dtype=np.int64),
}


def update_of(node: int) -> tuple[dict[str, np.ndarray], int]:
    """Node ``node``'s update of GLOBAL and its example count (one entry beyond the clip)."""
    gen = np.random.default_rng(node)
    arrays = {
        "w": gen.uniform(-3, 3, (3, 4)).astype(np.float32),
        "b": gen.uniform(-1, 1, 2),
        "n": np.arange(5, dtype=np.int64) * (node % 7) - 9,
    }
    arrays["w"][0, 0] = 9.0  # outside the clipping range: clipped and counted
    return arrays, 10 + node % 13


Corrupt = Callable[[int, dict[str, np.ndarray]], dict[str, np.ndarray]]


def client_app(corrupt: Corrupt | None = None, **mod_kwargs: object) -> ClientApp:
    app = ClientApp(mods=[prism_secagg_mod(**mod_kwargs)])

    @app.train()
    def train(msg: Message, context: Context) -> Message:
        assert RECORD not in msg.content.config_records  # the user's code never sees ours
        arrays, examples = update_of(context.node_id)
        if corrupt is not None:
            arrays = corrupt(context.node_id, arrays)
        content = RecordDict(
            {
                "arrays": ArrayRecord({k: Array(v) for k, v in arrays.items()}),
                "metrics": MetricRecord({"num-examples": examples, "loss": 0.5}),
            }
        )
        return Message(content, reply_to=msg)

    return app


def stage_of(msg: Message) -> str | None:
    record = msg.content.config_records.get(RECORD)
    return None if record is None else str(record["stage"])


def silent_at(node: int, stage: str) -> Callable[[int, Message], bool]:
    return lambda n, msg: n == node and stage_of(msg) == stage


def make_grid(app: ClientApp, silent: Callable[[int, Message], bool] | None = None) -> MemoryGrid:
    return MemoryGrid(lambda msg, ctx: app(msg, ctx), {n: {"p": n} for n in NODES}, silent=silent)


def config(**kwargs: object) -> SecAggConfig:
    values: dict[str, object] = {
        "quantise": QuantiseConfig(clip=CLIP, max_weight=100, integer_range=(-100, 100)),
        "stall_target": 0.05,
        "train_timeout": 0.0,
        "phase_timeout": 0.0,
    }
    return SecAggConfig(**(values | kwargs))


def train_messages(grid: MemoryGrid) -> list[Message]:
    model = ArrayRecord({k: Array(v) for k, v in GLOBAL.items()})
    return [
        Message(
            RecordDict({"arrays": model, "config": ConfigRecord({"lr": 0.1})}),
            dst_node_id=n,
            message_type="train",
            group_id="1",
        )
        for n in grid.get_node_ids()
    ]


def plain_mean(nodes: list[int]) -> dict[str, np.ndarray]:
    """The weighted mean of the nodes' clipped updates, in float64."""
    updates = [update_of(n) for n in nodes]
    total = sum(w for _, w in updates)
    out = {}
    for key in GLOBAL:
        parts = [
            (
                np.clip(a[key].astype(np.float64), -CLIP, CLIP)
                if a[key].dtype.kind == "f"
                else a[key]
            )
            * w
            for a, w in updates
        ]
        out[key] = sum(parts) / total
    return out


def assert_mean_within_bound(secure: SecAggGrid, replies: list[Message], nodes: list[int]) -> None:
    report = secure.last
    assert report is not None and report.completed
    assert report.survivors == sorted(nodes)
    plain = plain_mean(nodes)
    good = [r for r in replies if r.has_content()]
    assert len(good) == 1  # one reply: the survivors' mean, weighted by their total weight
    metrics = good[0].content["metrics"]
    assert metrics["num-examples"] == sum(update_of(n)[1] for n in nodes)
    assert metrics["secagg-survivors"] == len(nodes)
    got = {k: v.numpy() for k, v in good[0].content["arrays"].items()}
    for key, value in plain.items():
        assert got[key].dtype == GLOBAL[key].dtype and got[key].shape == GLOBAL[key].shape
        bound = report.mean_error_bound(key) if key != "n" else 0.5  # integers: nearest
        assert np.abs(got[key].astype(np.float64) - value).max() <= bound, key
        assert np.allclose(
            report.sums()[key], value * report.aggregate.total_weight, atol=report.sum_error_bound
        )
    assert report.clipped == len(nodes)  # one clipped entry per survivor, counted


def test_weighted_mean_of_several_arrays_within_the_stated_bound() -> None:
    grid = make_grid(client_app())
    secure = SecAggGrid(grid, config())
    replies = list(secure.send_and_receive(train_messages(grid)))
    assert_mean_within_bound(secure, replies, NODES)
    assert grid.errors == []
    report = secure.last
    assert report.params.source == "finder" and report.params.secure
    assert set(report.phase_seconds) == {"advertise", "share", "masked", "consistency", "unmask"}
    assert all(report.bytes_up[n] > 0 for n in NODES)


@pytest.mark.parametrize(
    ("stage", "summed"),
    [
        ("train", False),
        ("share", False),
        ("masked", False),
        ("consistency", True),  # its masked input is in: it stays in the sum
        ("unmask", True),
    ],
)
def test_a_dropout_at_every_phase(stage: str, summed: bool) -> None:
    gone = NODES[2]
    grid = make_grid(client_app(), silent=silent_at(gone, stage))
    secure = SecAggGrid(grid, config())
    replies = list(secure.send_and_receive(train_messages(grid)))
    nodes = NODES if summed else [n for n in NODES if n != gone]
    assert_mean_within_bound(secure, replies, nodes)
    phase = "advertise" if stage == "train" else stage
    assert secure.last.dropped == {gone: phase}
    errors = [r for r in replies if r.has_error()]
    if not summed:
        assert [r.metadata.src_node_id for r in errors] == [gone]
        assert phase in errors[0].error.reason


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (lambda a: a | {"w": a["w"][:2]}, "shape"),
        (lambda a: a | {"w": a["w"].astype(np.float64)}, "dtype"),
        (lambda a: a | {"n": a["n"].astype(np.int32)}, "dtype"),
        (lambda a: a | {"b": np.array([np.nan, 0.0])}, "non-finite"),
        (lambda a: a | {"w": np.full((3, 4), np.inf, np.float32)}, "non-finite"),
        (lambda a: {k: v for k, v in a.items() if k != "b"}, "missing"),
    ],
    ids=["shape", "dtype-float", "dtype-int", "nan", "inf", "missing"],
)
def test_a_bad_update_is_refused_naming_its_client_and_the_round_goes_on(
    bad: Callable[[dict], dict], reason: str
) -> None:
    culprit = NODES[3]
    app = client_app(corrupt=lambda node, a: bad(a) if node == culprit else a)
    grid = make_grid(app)
    secure = SecAggGrid(grid, config())
    replies = list(secure.send_and_receive(train_messages(grid)))
    assert_mean_within_bound(secure, replies, [n for n in NODES if n != culprit])
    refusal = secure.last.refused[culprit]
    assert refusal.client == secure.last.client_id(culprit) == 3
    assert refusal.reason == reason
    assert secure.last.dropped == {culprit: "advertise"}


def test_below_the_threshold_nothing_is_released() -> None:
    gone = set(NODES[:3])
    grid = make_grid(client_app(), silent=lambda n, m: n in gone and stage_of(m) == "share")
    secure = SecAggGrid(grid, config())
    replies = list(secure.send_and_receive(train_messages(grid)))
    assert replies and all(r.has_error() for r in replies)
    assert all("secure round aborted" in r.error.reason for r in replies)
    report = secure.last
    assert not report.completed and report.aborted and report.abort_phase == "share"
    with pytest.raises(ValueError, match="aborted"):
        report.mean()
    with pytest.raises(SecureRoundAborted) as caught:
        SecAggGrid(grid, config(on_abort="raise")).send_and_receive(train_messages(grid))
    assert caught.value.report.dropped.keys() == gone


def test_fedavg_gets_the_secure_mean_as_its_new_model() -> None:
    grid = make_grid(client_app())
    secure = SecAggGrid(grid, config())
    strategy = FedAvg(fraction_evaluate=0.0, min_train_nodes=5, min_available_nodes=5)
    result = strategy.start(
        grid=secure,
        initial_arrays=ArrayRecord({k: Array(v) for k, v in GLOBAL.items()}),
        num_rounds=1,
    )
    report = secure.last
    got = {k: v.numpy() for k, v in result.arrays.items()}
    for key in ("w", "b"):
        np.testing.assert_allclose(got[key], report.mean()[key], atol=1e-6)


def test_explicit_parameters_are_checked_insecure_ones_refused() -> None:
    grid = make_grid(client_app())
    secure = SecAggGrid(grid, config(threshold=4))
    secure.send_and_receive(train_messages(grid))
    assert secure.last.params.source == "explicit" and secure.last.session.threshold == 4
    with pytest.raises(InsecureParametersError, match="allow_insecure"):
        SecAggGrid(grid, config(threshold=2)).send_and_receive(train_messages(grid))
    # The server's override alone: every node refuses the insecure session, nothing is summed.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        insecure = SecAggGrid(grid, config(threshold=2, allow_insecure=True))
        replies = list(insecure.send_and_receive(train_messages(grid)))
    assert any(issubclass(w.category, InsecureParametersWarning) for w in caught)
    assert insecure.last.session.insecure and not insecure.last.completed
    assert not any(r.has_content() for r in replies)
    assert sorted(insecure.last.errors) == NODES
    assert all("session.insecure" in e for e in insecure.last.errors.values())


def test_insecure_parameters_run_when_server_and_nodes_both_override() -> None:
    grid = make_grid(client_app(allow_insecure=True))
    with pytest.warns(InsecureParametersWarning, match="INSECURE"):
        secure = SecAggGrid(grid, config(threshold=2, allow_insecure=True))
        replies = list(secure.send_and_receive(train_messages(grid)))
    assert secure.last.session.threshold == 2 and secure.last.session.insecure
    assert not secure.last.params.secure
    assert_mean_within_bound(secure, replies, NODES)


def test_a_plain_train_message_is_refused_not_answered_in_the_clear() -> None:
    grid = make_grid(client_app())
    [msg] = train_messages(grid)[:1]
    [reply] = grid.send_and_receive([msg])
    assert reply.has_error() and "FlowerPayloadError" in reply.error.reason
    assert not reply.has_content()


def test_malformed_payloads_are_refused_with_typed_errors() -> None:
    app = client_app()
    node = NODES[0]
    context = Context(1, node, {}, RecordDict(), {})
    cases = [
        RecordDict({RECORD: ConfigRecord({"stage": "train", "round": 1})}),  # no data
        RecordDict({RECORD: ConfigRecord({"stage": 7, "round": 1, "data": b""})}),
        RecordDict({RECORD: ConfigRecord({"stage": "train", "round": -1, "data": b""})}),
        pack("train", 1, b"", client=0, session="{}", layout="{}", quantise="{}"),
        pack("nonsense", 1, b""),
    ]
    for content in cases:
        msg = Message(content, dst_node_id=node, message_type="train", group_id="1")
        with pytest.raises(FlowerPayloadError):
            app._mods[0](msg, context, lambda m, c: pytest.fail("trained"))  # type: ignore[attr-defined]
    msg = Message(pack("share", 1, b"junk"), dst_node_id=node, message_type="train")
    with pytest.raises(ClientStateMissing):
        app._mods[0](msg, context, lambda m, c: pytest.fail("trained"))  # type: ignore[attr-defined]


def _garbage(content: RecordDict) -> None:
    content[RECORD]["data"] = b"\x01garbage"


def _no_record(content: RecordDict) -> None:
    del content[RECORD]


def _other_round(content: RecordDict) -> None:
    content[RECORD]["round"] = 7


def _as_refusal(content: RecordDict) -> None:
    content[RECORD]["stage"] = "refused"  # a refusal report that does not parse


@pytest.mark.parametrize("stage", ["train", "share", "masked"])
@pytest.mark.parametrize("tamper", [_garbage, _no_record, _other_round, _as_refusal])
def test_a_tampered_reply_drops_only_its_sender(
    stage: str, tamper: Callable[[RecordDict], None]
) -> None:
    """A node whose reply is malformed is refused by the server; the round goes on."""
    bad = NODES[1]
    inner = client_app()

    def app(msg: Message, ctx: Context) -> Message:
        got = stage_of(msg)  # before the mod strips its record from the message
        reply = inner(msg, ctx)
        if ctx.node_id == bad and got == stage and reply.has_content():
            tamper(reply.content)
        return reply

    grid = MemoryGrid(app, {n: {} for n in NODES})
    secure = SecAggGrid(grid, config())
    replies = list(secure.send_and_receive(train_messages(grid)))
    assert_mean_within_bound(secure, replies, [n for n in NODES if n != bad])
    phase = "advertise" if stage == "train" else stage
    assert secure.last.dropped == {bad: phase}
    assert secure.last.errors[bad].startswith(phase)


def test_state_in_a_folder_is_owner_only_and_gone_after_the_round(tmp_path: Path) -> None:
    seen: list[int] = []

    def watch(node: int, msg: Message) -> bool:
        files = list(tmp_path.rglob("*.state"))
        for f in files:
            seen.append(stat.S_IMODE(f.stat().st_mode))
        return False

    grid = make_grid(client_app(state_dir=tmp_path), silent=watch)
    secure = SecAggGrid(grid, config())
    replies = list(secure.send_and_receive(train_messages(grid)))
    assert_mean_within_bound(secure, replies, NODES)
    assert seen and set(seen) == {0o600}
    folders = [p for p in tmp_path.rglob("*") if p.is_dir()]
    assert len(folders) == 1 + len(NODES) and {stat.S_IMODE(d.stat().st_mode) for d in folders} == {
        0o700
    }
    assert list(tmp_path.rglob("*.state")) == []  # each client forgot its secrets at the end
    assert all(not c.state.config_records for c in grid.contexts.values())


def test_the_legacy_numpyclient_path_under_defaultworkflow() -> None:
    """``DefaultWorkflow(fit_workflow=SecAggFitWorkflow(...))`` with a NumPyClient's ClientApp."""
    import flwr.common as fc
    from flwr.client import ClientApp as LegacyClientApp
    from flwr.client import NumPyClient
    from flwr.server import LegacyContext, ServerConfig
    from flwr.server.strategy import FedAvg as LegacyFedAvg
    from flwr.server.workflow import DefaultWorkflow
    from flwr.server.workflow.constant import MAIN_PARAMS_RECORD

    from prism_secure.protocols.adapters.flower import SecAggFitWorkflow

    class Client(NumPyClient):
        def __init__(self, i: int) -> None:
            self.i = i

        def fit(self, parameters, config):  # noqa: ANN001, ANN201
            return [parameters[0] + self.i, parameters[1] + 0.5 * self.i], 10 + self.i, {}

    start = [np.zeros(3, np.float32), np.ones((2, 2), np.float32)]
    app = LegacyClientApp(
        client_fn=lambda ctx: Client(int(ctx.node_config["p"])).to_client(),
        mods=[prism_secagg_mod()],
    )
    grid = MemoryGrid(lambda m, c: app(m, c), {10 + i: {"p": i} for i in range(4)})
    workflow = SecAggFitWorkflow(config(threshold=3))
    context = LegacyContext(
        Context(1, 0, {}, RecordDict(), {}),
        config=ServerConfig(num_rounds=1),
        strategy=LegacyFedAvg(
            min_fit_clients=4,
            min_available_clients=4,
            fraction_evaluate=0.0,
            initial_parameters=fc.ndarrays_to_parameters(start),
        ),
    )
    DefaultWorkflow(fit_workflow=workflow)(grid, context)
    [report] = workflow.rounds
    assert report.completed and report.survivors == [10, 11, 12, 13]
    mean_shift = sum(i * (10 + i) for i in range(4)) / sum(10 + i for i in range(4))
    final = context.state.array_records[MAIN_PARAMS_RECORD].to_numpy_ndarrays()
    bound = report.mean_error_bound("0")
    assert np.abs(final[0] - mean_shift).max() <= bound
    assert np.abs(final[1] - (1 + 0.5 * mean_shift)).max() <= report.mean_error_bound("1")


class LateGrid:
    """A grid whose nodes answer a query ``delay`` seconds after it is pushed; ``silent`` never."""

    def __init__(self, delay: float, silent: set[int]) -> None:
        self.delay, self.silent = delay, silent
        self.due: dict[str, tuple[float, Message]] = {}
        self.pulls = 0

    def push_messages(self, messages: list[Message]) -> list[str]:
        ids = []
        for i, msg in enumerate(messages):
            mid = f"q{i}"
            msg.metadata.__dict__["_message_id"] = mid  # what the SuperLink assigns
            if msg.metadata.dst_node_id not in self.silent:
                reply = Message(RecordDict({"m": MetricRecord({"x": 1.0})}), reply_to=msg)
                self.due[mid] = (time.monotonic() + self.delay, reply)
            ids.append(mid)
        return ids

    def pull_messages(self, message_ids: list[str]) -> list[Message]:
        self.pulls += 1
        now = time.monotonic()
        ready = [m for m in message_ids if m in self.due and self.due[m][0] <= now]
        return [self.due.pop(m)[1] for m in ready]


def _queries(nodes: list[int]) -> list[Message]:
    return [Message(RecordDict(), dst_node_id=n, message_type="query") for n in nodes]


def test_other_exchanges_pass_through_and_a_late_reply_is_read_within_a_poll() -> None:
    # Flower's own Grid asks every 3 s: these replies, in after 0.3 s, would be read at 3 s.
    grid = LateGrid(delay=0.3, silent=set())
    secure = SecAggGrid(grid, config())  # type: ignore[arg-type]
    start = time.monotonic()
    replies = list(secure.send_and_receive(_queries(NODES[:3]), timeout=30.0))
    took = time.monotonic() - start
    assert sorted(r.metadata.reply_to_message_id for r in replies) == ["q0", "q1", "q2"]
    assert 0.3 <= took < 1.5, took
    assert secure.rounds == []  # no train message: no secure round
    # A node that never answers: the others' replies once the timeout has passed.
    grid = LateGrid(delay=0.1, silent={NODES[1]})
    start = time.monotonic()
    secure = SecAggGrid(grid, config())  # type: ignore[arg-type]
    replies = list(secure.send_and_receive(_queries(NODES[:3]), timeout=1.0))
    took = time.monotonic() - start
    assert sorted(r.metadata.reply_to_message_id for r in replies) == ["q0", "q2"]
    assert 1.0 <= took < 2.0 and grid.pulls >= 4, (took, grid.pulls)
