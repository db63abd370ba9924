"""Configuration: TOML plus overrides, and bad values fail naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from prism_secure.config import RunConfig, build_config, parse_set_option
from prism_secure.errors import ConfigError


def test_toml_then_overrides(tmp_path: Path) -> None:
    toml = tmp_path / "run.toml"
    toml.write_text('seed = 3\n[federation]\nrounds = 7\naggregator = "fedpm"\n')
    cfg = build_config(toml, {"federation.rounds": 9, "privacy.epsilon": 2.5})
    assert cfg.seed == 3
    assert cfg.federation.rounds == 9  # the flag wins over the file
    assert cfg.federation.aggregator == "fedpm"
    assert cfg.privacy.epsilon == 2.5


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"federation.rounds": 0}, "federation.rounds"),
        ({"privacy.epsilon": -1.0}, "privacy.epsilon"),
        ({"privacy.delta": 1.5}, "privacy.delta"),
        ({"partition.scheme": "bogus"}, "partition.scheme"),
        ({"training.lr": 0}, "training.lr"),
        ({"federation.typo_key": 1}, "federation.typo_key"),
    ],
)
def test_bad_values_name_the_field(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as err:
        build_config(None, overrides)
    assert err.value.field == field
    assert field in str(err.value)


def test_inconsistent_sections_are_refused() -> None:
    with pytest.raises(ConfigError):
        build_config(None, {"data.dataset": "cifar10", "model.arch": "dcgan28"})


def test_bad_toml_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("seed = = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        build_config(bad)
    with pytest.raises(ConfigError, match="not found"):
        build_config(tmp_path / "missing.toml")


def test_set_option_parses_toml_values() -> None:
    assert parse_set_option("training.lr=0.05") == ("training.lr", 0.05)
    assert parse_set_option("features.bandwidths=[1.0, 2.0]") == ("features.bandwidths", [1.0, 2.0])
    assert parse_set_option("data.dataset=mnist") == ("data.dataset", "mnist")
    with pytest.raises(ConfigError):
        parse_set_option("no-equals-sign")


def test_defaults_round_trip_through_json() -> None:
    cfg = RunConfig()
    assert RunConfig.model_validate_json(cfg.model_dump_json()) == cfg
