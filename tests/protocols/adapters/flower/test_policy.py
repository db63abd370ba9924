"""Threshold and graph for Flower cohorts: chosen, or given and checked by the split-view rule."""

from __future__ import annotations

import warnings

import pytest

import prism_secure.protocols as protocols
from prism_secure.errors import ConfigError
from prism_secure.protocols import SessionParams, run_secure_sum
from prism_secure.protocols.adapters.flower import policy
from prism_secure.protocols.adapters.flower.errors import (
    InsecureParametersError,
    InsecureParametersWarning,
)
from prism_secure.protocols.adapters.flower.policy import choose_params, is_secure


@pytest.mark.parametrize(
    ("n", "t", "graph", "k"),
    [
        (10, 5, "full", None),
        (10, 2, "full", None),
        (9, 4, "full", None),
        (50, 10, "sparse", 20),
        (50, 5, "sparse", 10),
        (50, 2, "sparse", 4),
    ],
)
def test_insecure_parameters_are_refused_without_the_override(
    n: int, t: int, graph: str, k: int | None
) -> None:
    assert not is_secure(n, graph, k, t)  # type: ignore[arg-type]
    with pytest.raises(InsecureParametersError) as info:
        choose_params(n, threshold=t, graph=graph, neighbours=k)  # type: ignore[arg-type]
    assert info.value.field == "threshold"
    assert "2t > " in str(info.value) and "allow_insecure" in str(info.value)


def test_override_accepts_them_with_a_loud_warning(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.warns(InsecureParametersWarning, match="INSECURE"):
        got = choose_params(10, threshold=5, allow_insecure=True)
    assert (got.threshold, got.graph, got.secure, got.source) == (5, "full", False, "explicit")
    assert "INSECURE" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("n", "t", "graph", "k"),
    [
        (10, 6, "full", None),
        (9, 5, "full", None),
        (2, 2, "full", None),
        (50, 11, "sparse", 20),
        (50, 6, "sparse", 10),
        (5, 3, "sparse", 4),
    ],
)
def test_secure_explicit_parameters_pass_silently_and_the_protocol_takes_them(
    n: int, t: int, graph: str, k: int | None
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = choose_params(n, threshold=t, graph=graph, neighbours=k)  # type: ignore[arg-type]
    assert got.secure and got.source == "explicit" and got.threshold == t
    SessionParams(bits=8, length=4, clients=n, **got.session_kwargs())


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"clients": 1}, "clients"),
        ({"clients": 10, "dropout": 1.0}, "dropout"),
        ({"clients": 10, "dropout": -0.1}, "dropout"),
        ({"clients": 10, "graph": "ring"}, "graph"),
        ({"clients": 10, "graph": "sparse", "neighbours": 3}, "neighbours"),
        ({"clients": 10, "graph": "full", "neighbours": 4}, "neighbours"),
        ({"clients": 10, "threshold": 11}, "threshold"),
        ({"clients": 10, "threshold": 1}, "threshold"),
        ({"clients": 10, "threshold": 6, "graph": "sparse", "neighbours": 4}, "threshold"),
        ({"clients": 10, "threshold": 6, "graph": "sparse"}, "neighbours"),
    ],
)
def test_malformed_requests_name_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        choose_params(**kwargs)
    assert info.value.field == field


@pytest.mark.parametrize("n", [2, 3, 10, 11, 50, 200])
def test_the_finder_on_the_full_graph_gives_the_smallest_secure_threshold(n: int) -> None:
    got = choose_params(n, 0.0, graph="full", stall_target=1.0)
    assert got.graph == "full" and got.secure and got.source == "finder"
    assert not is_secure(n, "full", None, got.threshold - 1) or got.threshold == 2


def test_a_dropout_rate_the_finder_would_stall_under_is_refused_by_name() -> None:
    assert choose_params(50, 0.1, graph="full").threshold == 26  # P(< 26 of 50 survive) is tiny
    with pytest.raises(ConfigError) as info:
        choose_params(10, 0.3)  # 7 of 10 expected, t = 6: stalls ~15% of the time
    assert info.value.field == "dropout" and "give the threshold explicitly" in str(info.value)
    assert "best possible" in str(info.value)
    sparse = choose_params(200, 0.05, graph="sparse", stall_target=1e-3)
    assert sparse.graph == "sparse" and 2 * sparse.threshold > sparse.neighbours  # type: ignore[operator]


def test_chosen_parameters_run_a_round_at_the_expected_dropout() -> None:
    import numpy as np

    got = choose_params(12, 0.1, stall_target=1e-2)
    assert got.source == "finder"
    assert got.secure
    inputs = {c: np.ones(8, np.uint8) for c in range(12)}
    res = run_secure_sum(
        inputs,
        round_index=1,
        model_digest=b"\0" * 32,
        dropouts={3: "masked"},
        **got.session_kwargs(),
    )
    assert res.total.tolist() == [11] * 8


def test_the_finder_is_used_when_present_and_its_output_is_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The seam: whatever ``prism_secure.protocols.choose`` returns is checked, not trusted."""
    calls = []
    answer = {"threshold": 6}

    def finder(n: int, dropout: float, **kw: object) -> policy.SecureParams:
        calls.append((n, dropout, kw))
        return policy.SecureParams(
            clients=n,
            graph="full",
            neighbours=None,
            source="finder",
            secure=True,
            stall=0.0,
            **answer,
        )

    monkeypatch.setattr(protocols, "choose", finder, raising=False)
    got = choose_params(10, 0.2, stall_target=1e-3)
    assert (got.source, got.threshold, got.secure) == ("finder", 6, True)
    assert calls == [(10, 0.2, {"stall_target": 1e-3, "graph": None, "neighbours": None})]
    answer["threshold"] = 5  # breaks 2t > n
    with pytest.raises(InsecureParametersError):
        choose_params(10, 0.2)
