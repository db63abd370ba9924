"""End to end: a tiny federated run, its files, resume, secure aggregation, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from prism_secure.app import train_run
from prism_secure.artifacts.model_file import decode_model, load_generator
from prism_secure.cli.app import app
from prism_secure.config import build_config
from prism_secure.errors import ConfigError, DataNotFoundError
from prism_secure.federation import inprocess as engine_mod

EXPECTED_FILES = [
    "config.json",
    "membership.json",
    "metrics.jsonl",
    "privacy.json",
    "summary.json",
    "model.prism",
    "checkpoints/latest.pt",
    "samples/final.png",
    "samples/round_0002.png",
]


def _cfg(overrides: dict[str, object], **more: object):
    return build_config(None, {**overrides, **more})


def test_tiny_run_writes_every_artifact(tiny_overrides: dict[str, object]) -> None:
    run = train_run(_cfg(tiny_overrides))
    for name in EXPECTED_FILES:
        assert (run / name).exists(), name
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["round"] for m in metrics] == [1, 2, 3]
    for m in metrics:
        assert m["survivors"] == 3 and not m["aborted"]
        assert 0 < m["lambda"] <= 1
        assert m["bytes_up_per_client"] > 0 and m["bytes_down_per_client"] > 0
        # SecAgg sends b = ceil(log2(n + 1)) = 2 bits per parameter plus key material.
        assert 2.0 <= m["bits_up_per_param"] < 2.0 + 1.0
    ledger = json.loads((run / "privacy.json").read_text())
    assert ledger["epsilon"] <= 8.0
    membership = json.loads((run / "membership.json").read_text())
    assert len(membership["clients"]) == 3 and len(membership["holdout"]) == 100
    header, bits = decode_model((run / "model.prism").read_bytes())
    assert header.num_params == bits.size
    assert load_generator(run).sample(4, seed=0).shape == (4, 1, 28, 28)
    # the exported mask is the mode of the final global scores: keep a weight iff theta > 0.5
    scores = torch.load(run / "checkpoints/latest.pt", weights_only=True)["scores"]
    np.testing.assert_array_equal(bits, (scores > 0).numpy().astype(np.uint8))


def test_sampled_final_mask_is_one_bernoulli_draw(tiny_overrides: dict[str, object]) -> None:
    run = train_run(_cfg(tiny_overrides, **{"output.final_mask": "sample"}))
    _, bits = decode_model((run / "model.prism").read_bytes())
    scores = torch.load(run / "checkpoints/latest.pt", weights_only=True)["scores"]
    mode = (scores > 0).numpy().astype(np.uint8)
    theta = torch.sigmoid(scores).numpy()
    uncertain = (theta > 0.3) & (theta < 0.7)
    assert uncertain.sum() > 1000  # a tiny run leaves many weights undecided
    # a draw disagrees with the mode on undecided weights about as often as theta predicts
    disagree = (bits != mode)[uncertain].mean()
    expected = np.minimum(theta, 1 - theta)[uncertain].mean()
    assert abs(disagree - expected) < 0.05


@pytest.mark.parametrize("conditional", [False, True])
def test_resume_reproduces_an_uninterrupted_run(
    tiny_overrides: dict[str, object],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    conditional: bool,
) -> None:
    common = {**tiny_overrides, "privacy.noise_seed": 7, "model.conditional": conditional}
    full = train_run(_cfg(common, **{"output.name": "full"}))

    original = engine_mod.InProcessEngine.run_round

    def stop_at_three(self, round_index, on_client=None):  # a Ctrl-C during round 3
        if round_index == 3:
            raise KeyboardInterrupt
        return original(self, round_index, on_client)

    monkeypatch.setattr(engine_mod.InProcessEngine, "run_round", stop_at_three)
    with pytest.raises(KeyboardInterrupt):
        train_run(_cfg(common, **{"output.name": "cut"}))
    monkeypatch.setattr(engine_mod.InProcessEngine, "run_round", original)
    cut = Path(common["output.runs_dir"]) / "cut"
    assert not (cut / "model.prism").exists()
    resumed = train_run(_cfg(common), resume=cut)
    assert (full / "model.prism").read_bytes() == (resumed / "model.prism").read_bytes()

    def stable(path: Path) -> list[dict]:
        keep = ("round", "loss", "lambda", "mask_density", "survivors", "bytes_down_per_client")
        rows = [json.loads(x) for x in (path / "metrics.jsonl").read_text().splitlines()]
        return [{k: r[k] for k in keep} for r in rows]

    assert stable(full) == stable(resumed)


def test_secure_and_plain_aggregation_train_the_same_model(
    tiny_overrides: dict[str, object],
) -> None:
    """SecAgg's sum is exact, so the server reaches the same scores as with plain sums."""
    base = {**tiny_overrides, "privacy.enabled": False}
    secure = train_run(_cfg(base, **{"output.name": "s"}))
    with pytest.warns(UserWarning, match="server sees every client's mask"):
        plain = train_run(_cfg(base, **{"output.name": "p", "secure_agg.mode": "none"}))
    a = torch.load(secure / "checkpoints/latest.pt", weights_only=True)["scores"]
    b = torch.load(plain / "checkpoints/latest.pt", weights_only=True)["scores"]
    assert torch.equal(a, b)


def test_dropouts_are_survived(tiny_overrides: dict[str, object]) -> None:
    cfg = _cfg(
        tiny_overrides,
        **{
            "partition.num_clients": 5,
            "federation.dropout": 0.3,
            "federation.rounds": 4,
            "secure_agg.threshold": 0.6,
        },
    )
    # 5 clients, t = 3 (2t > n), 30% dropout: a round aborts with probability ~16%, and the
    # user is told
    with pytest.warns(UserWarning, match="a round aborts"):
        run = train_run(cfg)
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert sum(r["dropped"] for r in rows) > 0
    for r in rows:
        if not r["aborted"]:
            assert r["survivors"] <= r["participants"]


def test_bad_config_and_missing_data_leave_no_run_directory(
    tiny_overrides: dict[str, object], tmp_path: Path
) -> None:
    runs = Path(tiny_overrides["output.runs_dir"])
    with pytest.raises(ConfigError):
        train_run(_cfg(tiny_overrides, **{"federation.rounds": -1}))
    with pytest.raises(DataNotFoundError):
        train_run(_cfg(tiny_overrides, **{"data.root": str(tmp_path / "nothing")}))
    assert not runs.exists() or not any(runs.iterdir())


def test_cli_train_then_sample(tiny_overrides: dict[str, object], tmp_path: Path) -> None:
    runner = CliRunner()
    sets = [
        arg
        for key, value in tiny_overrides.items()
        if key not in ("data.root", "output.runs_dir", "output.name")
        for arg in ("--set", f"{key}={json.dumps(value)}")
    ]
    result = runner.invoke(
        app,
        [
            "train",
            "--epsilon",
            "4",
            "--data-dir",
            str(tiny_overrides["data.root"]),
            "--runs-dir",
            str(tmp_path / "cli-runs"),
            "--name",
            "c",
            "--quiet",
            *sets,
        ],
    )
    assert result.exit_code == 0, result.output
    run = tmp_path / "cli-runs" / "c"
    assert json.loads((run / "privacy.json").read_text())["epsilon"] <= 4.0
    grid = tmp_path / "grid.png"
    result = runner.invoke(
        app, ["sample", str(run / "model.prism"), "--n", "16", "--out", str(grid)]
    )
    assert result.exit_code == 0, result.output
    assert grid.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = runner.invoke(app, ["train", "--epsilon", "-1", "--quiet"])
    assert bad.exit_code == 2 and "privacy.epsilon" in bad.output


def test_recorded_transcript_shows_only_uniform_views(tiny_overrides: dict[str, object]) -> None:
    """With --record-transcript the server's view is saved; it must look uniform."""
    from prism_secure.artifacts.schema import load_transcripts
    from prism_secure.audits.secagg_view import audit_secagg_views

    cfg = _cfg(
        tiny_overrides,
        **{"secure_agg.record_transcript": True, "federation.rounds": 2, "privacy.enabled": False},
    )
    run = train_run(cfg)
    rounds = load_transcripts(run / "transcript")
    assert [t.round_index for t in rounds] == [1, 2]
    for t in rounds:
        assert t.bits == 2  # ceil(log2(3 + 1))
        assert set(t.masked) == {"0", "1", "2"}
        report = audit_secagg_views(t.masked, t.inputs, t.bits)
        assert report.passed
