"""A reference generator trained on the test split feeds the calibrated attack end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prism_secure.app import train_run
from prism_secure.audits.pipeline import AuditSettings, audit_run_dir
from prism_secure.audits.rundir import load_run_dir
from prism_secure.config import build_config
from prism_secure.errors import RunDirError

SMALL = AuditSettings(n_samples=300, n_candidates=40, n_population=200, n_boot=50)


def _train(overrides: dict[str, object], **more: object) -> Path:
    """A tiny no-DP run; ``more`` overrides further keys."""
    return train_run(build_config(None, {**overrides, "privacy.enabled": False, **more}))


def test_calibrated_attack_with_a_test_split_reference(
    tiny_overrides: dict[str, object],
) -> None:
    target = _train(tiny_overrides)
    reference = _train(tiny_overrides, **{"data.split": "test", "output.name": "reference"})
    membership = json.loads((reference / "membership.json").read_text())
    assert membership["split"] == "test"

    # a test-split run is a reference generator, never an audit target
    with pytest.raises(RunDirError, match="--reference"):
        load_run_dir(reference)
    with pytest.raises(RunDirError, match="--reference"):
        audit_run_dir(reference, SMALL)

    outcome = audit_run_dir(target, SMALL, reference=reference)
    by_name = {a.name: a for a in outcome.report.attacks}
    calibrated = by_name["nn-calibrated"]
    assert calibrated.status == "ok" and calibrated.roc is not None
    assert outcome.report.reference_run == str(reference)
    without = audit_run_dir(target, SMALL)
    assert {a.name: a for a in without.report.attacks}["nn-calibrated"].status.startswith("skipped")


def test_reference_on_another_dataset_is_refused(
    tiny_overrides: dict[str, object],
) -> None:
    target = _train(tiny_overrides)
    other = _train(
        tiny_overrides,
        **{"data.dataset": "fashion_mnist", "data.split": "test", "output.name": "fmnist"},
    )
    with pytest.raises(RunDirError, match="fashion_mnist"):
        audit_run_dir(target, SMALL, reference=other)
