"""The in-process engine on its own: a fake summer, synthetic targets, no dataset."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from prism_secure.app.generator import build_run_generator, initial_scores
from prism_secure.config import build_config
from prism_secure.features.factory import build_feature_map
from prism_secure.features.moments import FeatureMoments
from prism_secure.federation.client_round import Client
from prism_secure.federation.inprocess import InProcessEngine
from prism_secure.federation.server import Server
from prism_secure.federation.summers.base import MaskSummer, SumOutcome, SumRequest
from prism_secure.protocols.errors import AbortedError


class RecordingSum(MaskSummer):
    """Sums exactly what it is given, drops who it is told, and remembers every call."""

    name = "recording"

    def __init__(self, abort_rounds: set[int] = frozenset()) -> None:
        self.calls: list[tuple[int, dict[int, np.ndarray], dict[int, str]]] = []
        self.abort_rounds = abort_rounds

    def dropout_phases(self) -> list[str]:
        return ["first", "second"]

    def _sum(self, request: SumRequest) -> SumOutcome:
        inputs, round_index, dropouts = request.inputs, request.round_index, request.dropouts
        self.calls.append((round_index, {c: v.copy() for c, v in inputs.items()}, dict(dropouts)))
        if round_index in self.abort_rounds:
            raise AbortedError("planted abort", phase="second")
        survivors = sorted(c for c in inputs if c not in dropouts)
        if not survivors:
            raise AbortedError("no survivor", phase="second")
        counts = sum(inputs[c].astype(np.int64) for c in survivors)
        return SumOutcome(counts, survivors, dict.fromkeys(survivors, 10), {}, 0.0)


def _engine(summer: MaskSummer, **overrides: object) -> InProcessEngine:
    cfg = build_config(
        None,
        {
            "model.width": 4,
            "model.latent_dim": 8,
            "model.conditional": False,
            "features.kind": "rff",
            "features.rff_dim": 32,
            "training.local_iters": 2,
            "training.batch_size": 8,
            "partition.num_clients": 5,
            **overrides,
        },
    )
    generator = build_run_generator(cfg)
    fmap = build_feature_map(cfg.features, (1, 28, 28))
    gen = torch.Generator().manual_seed(0)
    clients = [
        Client(
            c,
            FeatureMoments(
                torch.randn(fmap.dim, generator=gen), torch.rand(fmap.dim, generator=gen)
            ),
        )
        for c in range(5)
    ]
    server = Server(cfg, initial_scores(cfg, generator), None)
    return InProcessEngine(cfg, generator, fmap, clients, summer, server)


def test_the_server_aggregates_exactly_the_survivors_uploads() -> None:
    summer = RecordingSum()
    engine = _engine(summer)
    before = engine.server.scores.clone()
    report = engine.run_round(1)
    _, uploads, drops = summer.calls[0]
    assert sorted(uploads) == [0, 1, 2, 3, 4] and drops == {}
    for mask in uploads.values():
        assert mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 1}
        assert mask.shape == (before.numel(),)
    # MADA moved the scores from the counts of exactly these masks.
    assert report.record["survivors"] == 5 and not report.record["aborted"]
    assert not torch.equal(engine.server.scores, before)
    assert 0 < report.record["lambda"] <= 1
    assert engine.totals["bytes_up"] == 50  # the summer's 10 bytes for each of 5 clients


def test_an_aborted_sum_leaves_the_model_unchanged_and_is_recorded() -> None:
    engine = _engine(RecordingSum(abort_rounds={2}))
    engine.run_round(1)
    after_one = engine.server.scores.clone()
    with pytest.warns(UserWarning, match="planted abort"):
        report = engine.run_round(2)
    assert report.record["aborted"] and "planted abort" in report.record["reason"]
    assert torch.equal(engine.server.scores, after_one)
    engine.run_round(3)  # and the next round goes on
    assert not torch.equal(engine.server.scores, after_one)


def test_participation_and_simulated_dropouts_come_from_the_public_seed() -> None:
    runs = []
    for _ in range(2):
        summer = RecordingSum()
        engine = _engine(summer, **{"federation.participation": 0.6, "federation.dropout": 0.5})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # rounds where everyone dropped abort, as they should
            for r in range(1, 6):
                engine.run_round(r)
        runs.append(summer)
    summer, again = runs
    for (r, inputs, drops), (r2, inputs2, drops2) in zip(summer.calls, again.calls, strict=True):
        assert r == r2 and len(inputs) == 3 and sorted(inputs) == sorted(inputs2)
        assert drops == drops2 and set(drops.values()) <= {"first", "second"}
        for c in inputs:
            np.testing.assert_array_equal(inputs[c], inputs2[c])  # local training is seeded
    assert any(drops for _, _, drops in summer.calls)


def test_a_plain_sum_with_every_client_gone_aborts_instead_of_crashing() -> None:
    from prism_secure.federation.summers.plain import PlainSum

    with pytest.raises(AbortedError):
        PlainSum().sum(
            {0: np.ones(4, np.uint8)}, round_index=1, model_digest=b"", dropouts={0: "upload"}
        )
