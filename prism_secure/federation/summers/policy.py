"""The secure sum's threshold and graph for a round: the user's, or the parameter finder's.

A threshold the split-view rule refuses (2t <= n on the full graph, 2t <= k on the SecAgg+
graph) is a configuration error naming ``secure_agg.threshold``.
"""

from __future__ import annotations

import math

from prism_secure.config import SecureAggConfig
from prism_secure.errors import ConfigError


def chosen_parameters(
    cfg: SecureAggConfig, n: int, dropout: float | None = None
) -> dict[str, object]:
    """The graph, k and t a round of ``n`` clients uses, with the bound on its abort risk.

    What the user left unset (``threshold``, ``neighbours``) comes from the parameter finder
    (:func:`prism_secure.protocols.secagg.params.choose`), planning for ``cfg.dropout`` (else
    ``dropout``, else none). On the full graph and the homomorphic path ``neighbours`` is None.
    """
    plan = cfg.dropout if cfg.dropout is not None else (dropout or 0.0)
    if cfg.mode != "pairwise" or n <= 1:
        fraction = 0.5 if cfg.threshold is None else cfg.threshold
        t = 1 if n <= 1 else max(2, math.ceil(fraction * n))
        return {"graph": "full", "neighbours": None, "threshold": t, "clients": n, "stall": 0.0}
    from prism_secure.protocols.secagg.params import (
        min_threshold,
        neighbourhood_size,
        stall_probability,
    )

    k = _neighbours(cfg, n, plan) if cfg.graph == "sparse" else None
    group = neighbourhood_size(n, cfg.graph, k)
    least = min_threshold(cfg.graph, n, k)
    if cfg.threshold is None:
        t = least
    else:
        t = max(2, math.ceil(cfg.threshold * group))
        if t < least:
            rule = "2t > n" if cfg.graph == "full" else "2t > k"
            raise ConfigError(
                "secure_agg.threshold",
                f"{cfg.threshold:g} gives t = {t} of {group}, which the rule {rule} refuses (need "
                f"t >= {least}: a server could show two groups different survivor lists and "
                "unmask a client); leave it unset to let the parameter finder choose",
            )
    stall = stall_probability(n, group, t, plan)
    return {"graph": cfg.graph, "neighbours": k, "threshold": t, "clients": n, "stall": stall}


def _neighbours(cfg: SecureAggConfig, n: int, dropout: float) -> int:
    """The SecAgg+ degree: the user's, or the finder's (its least risky if none qualifies)."""
    from prism_secure.protocols.errors import ParameterError
    from prism_secure.protocols.secagg.params import candidates, choose

    if cfg.neighbours is not None:
        if cfg.neighbours % 2:
            raise ConfigError("secure_agg.neighbours", f"must be even, got {cfg.neighbours}")
        return cfg.neighbours
    try:
        found = choose(n, dropout, graph="sparse", stall_target=cfg.stall_target)
    except ParameterError:  # nothing meets the target: the least risky k (the run warns)
        found = min(candidates(n, dropout, graph="sparse"), key=lambda c: (c.stall, c.split))
    assert found.neighbours is not None
    return found.neighbours


def release_threshold(cfg: SecureAggConfig, n: int, dropout: float | None = None) -> int:
    """The Shamir threshold t (for the homomorphic path: the fewest uploads), never 1 of many.

    t counts the holders of one secret: all ``n`` on the full graph and for the homomorphic
    path, ``k + 1`` on the SecAgg+ graph; see :func:`chosen_parameters`.
    """
    return int(chosen_parameters(cfg, n, dropout)["threshold"])  # type: ignore[call-overload]


def stall_risk(cfg: SecureAggConfig, n: int, dropout: float) -> float:
    """Bound on the chance that a round of ``n`` clients aborts at this dropout rate (pairwise)."""
    if cfg.mode != "pairwise" or n <= 1 or dropout <= 0:
        return 0.0
    from prism_secure.protocols.secagg.params import neighbourhood_size, stall_probability

    chosen = chosen_parameters(cfg, n, dropout)
    k = chosen["neighbours"]
    group = neighbourhood_size(n, cfg.graph, k)  # type: ignore[arg-type]
    return stall_probability(n, group, chosen["threshold"], dropout)  # type: ignore[arg-type]
