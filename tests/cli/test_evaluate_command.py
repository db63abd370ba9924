"""``prism-secure evaluate`` on a tiny exported model (domain metrics only, to stay fast)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from prism_secure.artifacts.model_file import ModelHeader, save_model
from prism_secure.cli.evaluate import evaluate_command
from prism_secure.config import ModelConfig, RunConfig
from prism_secure.evaluation import ClassifierSpec
from prism_secure.evaluation import evaluate as evaluate_mod
from prism_secure.models.generators import build_generator

SPEC = ClassifierSpec(train_limit=1000, batch_size=64)


@pytest.fixture
def run_dir(tmp_path: Path, data_root: Path, monkeypatch) -> Path:
    monkeypatch.setattr(evaluate_mod, "ClassifierSpec", lambda: SPEC)
    cfg = RunConfig.model_validate(
        {"data": {"root": str(data_root)}, "model": {"width": 4, "latent_dim": 16}}
    )
    model_cfg = ModelConfig(width=4, latent_dim=16)
    gen = build_generator(model_cfg, 0, 1)
    bits = np.random.default_rng(0).integers(0, 2, gen.num_maskable, dtype=np.uint8)
    header = ModelHeader(
        kind="mask",
        model=model_cfg,
        weight_seed=0,
        channels=1,
        num_params=gen.num_maskable,
        dataset="mnist",
    )
    run = tmp_path / "run"
    run.mkdir()
    save_model(run / "model.prism", header, bits)
    (run / "config.json").write_text(cfg.model_dump_json())
    return run


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command()(evaluate_command)
    return app


def test_evaluate_run_dir_writes_eval_json(run_dir: Path, tmp_path: Path, data_root: Path) -> None:
    args = [str(run_dir), "--n", "64", "--metrics", "domain", "--cache-dir", str(tmp_path / "c")]
    result = CliRunner().invoke(_app(), args)
    assert result.exit_code == 0, result.output
    report = json.loads((run_dir / "eval.json").read_text())
    assert report["dataset"] == "mnist" and report["n"] == 64
    assert report["domain"]["n"] == 64 and report["domain_fid_floor"] > 0
    assert report["model"].endswith("model.prism") and report["fid"] is None
    assert "domain FID" in result.output
    # The bare model file works too; the report goes next to it (or to --out).
    out = tmp_path / "m.json"
    args2 = [str(run_dir / "model.prism"), "--n", "16", "--metrics", "domain", "--no-floor"]
    args2 += ["--cache-dir", str(tmp_path / "c"), "-o", str(out), "--data-dir", str(data_root)]
    result = CliRunner().invoke(_app(), args2)
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["domain_fid_floor"] is None


def test_evaluate_reports_bad_targets(tmp_path: Path) -> None:
    result = CliRunner().invoke(_app(), [str(tmp_path / "absent"), "--metrics", "domain"])
    assert result.exit_code == 2
    assert "neither a run directory nor a model file" in result.output


def test_evaluate_fid_records_the_backend_and_refuses_an_unknown_one(
    run_dir: Path, tmp_path: Path, inception_path: Path
) -> None:
    common = [str(run_dir), "--n", "8", "--metrics", "fid", "--cache-dir", str(tmp_path / "c")]
    common += ["--inception", str(inception_path), "--threads", "2"]
    bad = CliRunner().invoke(_app(), [*common, "--backend", "tensorrt"])
    assert bad.exit_code == 2 and "backend: unknown 'tensorrt'" in bad.output
    assert not (run_dir / "eval.json").exists()
    result = CliRunner().invoke(_app(), common)
    assert result.exit_code == 0, result.output
    report = json.loads((run_dir / "eval.json").read_text())
    assert report["inception"]["backend"] == "onnxruntime" and report["inception"]["images"] == 8
    assert report["fid"] > report["fid_floor"] > 0
    assert "onnxruntime" in result.output
