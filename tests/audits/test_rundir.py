"""Run directories: the CLI end to end on real MNIST, clear errors, and a run left untouched."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from prism_secure.artifacts.atomic import write_json_atomic
from prism_secure.artifacts.model_file import ModelHeader, save_model
from prism_secure.artifacts.schema import RoundTranscript, save_round_transcript
from prism_secure.audits.rundir import load_run_dir
from prism_secure.config import RunConfig
from prism_secure.errors import RunDirError
from prism_secure.models.generators import build_generator

DATA = Path(os.environ.get("PRISM_SECURE_DATA", "/work/shared/data"))
pytestmark = pytest.mark.skipif(
    not (DATA / "MNIST" / "raw").is_dir(), reason="MNIST not available offline"
)
SMALL = ["--n-samples", "400", "--n-candidates", "60", "--n-population", "300", "--n-boot", "100"]


def _make_run(root: Path, *, transcript_ok: bool = True) -> Path:
    """A run directory as training writes it, around a real (untrained) masked generator."""
    run = root / "run"
    run.mkdir()
    cfg = RunConfig.model_validate(
        {"data": {"root": str(DATA), "download": False}, "audit": {"canaries": 40}}
    )
    (run / "config.json").write_text(cfg.model_dump_json(indent=2))
    gen = build_generator(cfg.model, cfg.weight_seed)
    mask = np.random.default_rng(0).integers(0, 2, gen.num_maskable).astype(np.uint8)
    header = ModelHeader(
        kind="mask", model=cfg.model, weight_seed=cfg.weight_seed, channels=1,
        num_params=gen.num_maskable, dataset="mnist",
    )  # fmt: skip
    save_model(run / "model.prism", header, mask)
    coins = np.random.default_rng(2).random(40) < 0.5  # a fair coin per canary, as training does
    inserted = [1200 + i for i in range(40) if coins[i]]
    write_json_atomic(
        run / "membership.json",
        {
            "dataset": "mnist",
            "split": "train",
            "clients": {"0": list(range(0, 100)) + inserted[:10], "1": list(range(100, 200))},
            "holdout": list(range(200, 1200)),
            "canaries": {
                "candidates": list(range(1200, 1240)),
                "inserted": inserted,
                "client_of": {str(i): 0 for i in inserted},
            },
        },
    )
    write_json_atomic(run / "privacy.json", {"guarantee": True, "epsilon": 8.0, "delta": 1e-5})
    (run / "metrics.jsonl").write_text("{}\n")
    rng = np.random.default_rng(1)
    x = (rng.random(4000) < 0.5).astype(np.uint8)
    masked = (x + rng.integers(0, 8, 4000)) % 8 if transcript_ok else x
    save_round_transcript(
        run / "transcript", RoundTranscript(0, 3, {"0": masked.astype(np.uint8)}, {"0": x})
    )
    return run


def _snapshot(run: Path) -> dict[str, str]:
    return {
        str(p.relative_to(run)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(run.rglob("*"))
        if p.is_file()
    }


def _cli(args: list[str]) -> tuple[int, str]:
    from prism_secure.cli.audit import audit_command

    app = typer.Typer()
    app.command()(audit_command)
    result = CliRunner().invoke(app, args)
    return result.exit_code, " ".join(result.output.split())  # undo rich line wrapping


def test_audit_writes_reports_and_touches_nothing_else(tmp_path: Path) -> None:
    run = _make_run(tmp_path)
    before = _snapshot(run)
    code, out = _cli([str(run), *SMALL])
    assert code == 0, out
    after = _snapshot(run)
    assert {k: v for k, v in after.items() if k in before} == before
    assert set(after) - set(before) == {"audit.json", "audit.md", "roc.png"}
    report = json.loads((run / "audit.json").read_text())
    assert report["passed"] and report["claimed_epsilon"] == 8.0
    assert report["nonmember_source"] == "train-split holdout"
    assert report["canary"]["canaries"] == 40
    assert report["canary"]["inserted"] == len(
        json.loads((run / "membership.json").read_text())["canaries"]["inserted"]
    )
    assert report["canary"]["epsilon_lower_bound"] < 8.0
    assert report["secagg"][0]["audit"]["passed"]
    assert "| nn-pixel |" in (run / "audit.md").read_text()
    assert (run / "roc.png").read_bytes()[:4] == b"\x89PNG"


def test_audit_table_stays_one_line_per_attack_at_80_columns(tmp_path: Path) -> None:
    from prism_secure.cli.audit import audit_command

    run = _make_run(tmp_path)
    app = typer.Typer()
    app.command()(audit_command)
    result = CliRunner().invoke(app, [str(run), *SMALL], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 80
    report = json.loads((run / "audit.json").read_text())
    for attack in report["attacks"]:
        rows = [line for line in lines if line.startswith(attack["name"] + " ")]
        assert len(rows) == 1, (attack["name"], lines)
        if attack["roc"] is not None:
            assert f"{attack['roc']['auc']:.3f} [" in rows[0] and rows[0].rstrip().endswith("ok")
        else:
            assert rows[0].rstrip().endswith("skipped")
            assert any(attack["status"] in line for line in lines)


def test_broken_secagg_exits_one_and_systematic_canaries_are_flagged(tmp_path: Path) -> None:
    """Also: MNIST's index order is not random (alternate records differ in ink), so a fixed
    pattern of inserted canaries must raise a warning, not pass as a finding about the model."""
    run = _make_run(tmp_path, transcript_ok=False)
    mem = json.loads((run / "membership.json").read_text())
    mem["canaries"]["inserted"] = list(range(1200, 1240, 2))
    mem["canaries"]["client_of"] = {str(i): 0 for i in range(1200, 1240, 2)}
    (run / "membership.json").write_text(json.dumps(mem))
    code, out = _cli([str(run), *SMALL, "--attacks", "nn-pixel"])
    assert code == 1
    assert "VIOLATION" in out
    report = json.loads((run / "audit.json").read_text())
    assert not report["passed"]
    assert any("not a fair coin" in w for w in report["warnings"]), report["warnings"]


def _edit_json(path: Path, **changes: object) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (lambda r: (r / "membership.json").unlink(), "membership.json is missing"),
        (lambda r: (r / "model.prism").unlink(), "model.prism is missing"),
        (lambda r: (r / "privacy.json").write_text("{not json"), "not valid JSON"),
        (lambda r: _edit_json(r / "membership.json", dataset="fashion_mnist"), "dataset"),
        (lambda r: _edit_json(r / "membership.json", holdout=[5, 6]), "also members"),
        (lambda r: _edit_json(r / "membership.json", canaries=None), "canaries"),
        (lambda r: _edit_json(r / "privacy.json", epsilon=None, guarantee=None), "enables DP"),
        (lambda r: _edit_json(r / "config.json", seed="x"), "config.json: seed"),
    ],
)
def test_missing_or_mismatched_files_are_named(breakage, message: str, tmp_path: Path) -> None:
    run = _make_run(tmp_path)
    breakage(run)
    with pytest.raises(RunDirError, match=message):
        load_run_dir(run)


def test_out_of_range_indices_and_bad_options_exit_two(tmp_path: Path) -> None:
    run = _make_run(tmp_path)
    _edit_json(run / "membership.json", holdout=list(range(200, 1200)) + [70_000])
    code, out = _cli([str(run), *SMALL])
    assert code == 2 and "outside" in out
    code, out = _cli([str(tmp_path / "nowhere"), *SMALL])
    assert code == 2 and "not a directory" in out
    code, out = _cli([str(run), "--attacks", "nope"])
    assert code == 2 and "nope" in out
    assert not (run / "audit.json").exists()
