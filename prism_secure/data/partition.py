"""Splitting a training set across clients: IID, label shards, Dirichlet, or an attribute.

All splits are pure functions of ``(labels, config, seed)`` so every run is reproducible.
"""

from __future__ import annotations

import numpy as np

from prism_secure.artifacts.schema import Membership
from prism_secure.config import PartitionConfig
from prism_secure.errors import ConfigError


def _rng(seed: int, salt: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, salt]))


def iid(indices: np.ndarray, num_clients: int, seed: int) -> list[np.ndarray]:
    perm = _rng(seed, 1).permutation(indices)
    return [np.sort(p) for p in np.array_split(perm, num_clients)]


def label_shards(
    indices: np.ndarray, labels: np.ndarray, num_clients: int, shards_per_client: int, seed: int
) -> list[np.ndarray]:
    """The paper's split: sort by label, cut into ``K * s`` shards, deal ``s`` to each client.

    Shards never straddle two labels (each class gets a number of shards proportional to its
    size), so a client holds at most ``s`` labels even when classes are unbalanced.
    """
    rng = _rng(seed, 2)
    total = num_clients * shards_per_client
    classes, sizes = np.unique(labels[indices], return_counts=True)
    if total < len(classes):
        per_class = np.zeros(len(classes), dtype=int)
        per_class[np.argsort(-sizes)[:total]] = 1
    else:
        quota = sizes / sizes.sum() * total
        per_class = np.maximum(1, np.floor(quota).astype(int))
        while per_class.sum() < total:
            per_class[np.argmax(quota - per_class)] += 1
        while per_class.sum() > total:
            per_class[np.argmax(np.where(per_class > 1, per_class - quota, -np.inf))] -= 1
    shards: list[np.ndarray] = []
    for cls, count in zip(classes, per_class, strict=True):
        members = rng.permutation(indices[labels[indices] == cls])
        shards.extend(np.array_split(members, count) if count else [])
    deal = rng.permutation(len(shards))
    return [
        np.sort(np.concatenate([shards[j] for j in deal[k::num_clients]]))
        for k in range(num_clients)
    ]


def dirichlet(
    indices: np.ndarray, labels: np.ndarray, num_clients: int, alpha: float, seed: int
) -> list[np.ndarray]:
    """Per class, split its records across clients in Dirichlet(alpha) proportions."""
    rng = _rng(seed, 3)
    parts: list[list[np.ndarray]] = [[] for _ in range(num_clients)]
    for cls in np.unique(labels[indices]):
        members = rng.permutation(indices[labels[indices] == cls])
        props = rng.dirichlet(np.full(num_clients, alpha))
        cuts = (np.cumsum(props)[:-1] * len(members)).astype(int)
        for k, chunk in enumerate(np.split(members, cuts)):
            parts[k].append(chunk)
    return [np.sort(np.concatenate(p)) if p else np.empty(0, dtype=np.int64) for p in parts]


def by_attribute(
    indices: np.ndarray, attr: np.ndarray, num_clients: int, seed: int
) -> list[np.ndarray]:
    """Clients alternate between attribute groups; each group is split IID among its clients."""
    groups = [indices[attr[indices] == v] for v in np.unique(attr[indices])]
    assigned: list[list[int]] = [[] for _ in groups]
    for k in range(num_clients):
        assigned[k % len(groups)].append(k)
    out: list[np.ndarray] = [np.empty(0, dtype=np.int64)] * num_clients
    for g, (members, clients) in enumerate(zip(groups, assigned, strict=True)):
        if clients:
            for k, part in zip(clients, iid(members, len(clients), seed + g), strict=True):
                out[k] = part
    return out


def _bounded(part: np.ndarray, canaries: set[int], bound: int, seed: int, cid: int) -> np.ndarray:
    """At most ``bound`` records of ``part``: its canaries first, then a seeded random subset."""
    if len(part) <= bound:
        return part
    rng = np.random.default_rng(np.random.SeedSequence([seed, 6, cid]))
    mine = [int(x) for x in part if int(x) in canaries][:bound]
    rest = rng.permutation([x for x in part if int(x) not in canaries])[: bound - len(mine)]
    return np.sort(np.concatenate([np.asarray(mine, dtype=np.int64), rest.astype(np.int64)]))


def partition(
    labels: np.ndarray,
    cfg: PartitionConfig,
    seed: int,
    *,
    dataset: str,
    holdout: int = 0,
    max_records_per_client: int | None = None,
    canaries: int = 0,
    split: str = "train",
    record_bound: int | None = None,
) -> Membership:
    """Hold out non-members (and canary candidates), split the rest, record who holds what.

    ``record_bound`` is the DP release's public bound on records per client: a client above it
    keeps its canaries and a seeded random subset of the rest, so that membership is exactly
    what each client releases.
    """
    labels = np.asarray(labels)
    n = len(labels)
    if holdout + canaries >= n:
        raise ConfigError("data.holdout", f"holdout + canaries ({holdout + canaries}) >= {n}")
    perm = _rng(seed, 0).permutation(n)
    held, cand, rest = (
        perm[:holdout],
        perm[holdout : holdout + canaries],
        perm[holdout + canaries :],
    )
    rest = np.sort(rest)
    k = cfg.num_clients
    if cfg.scheme == "iid":
        parts = iid(rest, k, seed)
    elif cfg.scheme == "shards":
        parts = label_shards(rest, labels, k, cfg.shards_per_client, seed)
    elif cfg.scheme == "dirichlet":
        parts = dirichlet(rest, labels, k, cfg.alpha, seed)
    else:
        parts = by_attribute(rest, labels, k, seed)
    if max_records_per_client is not None:
        rng = _rng(seed, 4)
        parts = [np.sort(rng.permutation(p)[:max_records_per_client]) for p in parts]
    canary_info = None
    client_of: dict[int, int] = {}
    if canaries:
        rng = _rng(seed, 5)
        coins = rng.random(canaries) < 0.5
        owners = rng.integers(0, k, size=canaries)
        client_of = {
            int(c): int(o) for c, o, inside in zip(cand, owners, coins, strict=True) if inside
        }
        for c, owner in client_of.items():
            parts[owner] = np.sort(np.append(parts[owner], c))
    if record_bound is not None:
        parts = [_bounded(p, set(client_of), record_bound, seed, i) for i, p in enumerate(parts)]
    if canaries:
        kept = {c: o for c, o in client_of.items() if c in set(parts[o].tolist())}
        canary_info = {
            "candidates": [int(c) for c in cand],
            "inserted": sorted(kept),
            "client_of": {str(c): o for c, o in kept.items()},
        }
    empty = [i for i, p in enumerate(parts) if len(p) == 0]
    if empty:
        raise ConfigError("partition", f"clients {empty} received no records; use fewer clients")
    return Membership(
        dataset=dataset,
        split=split,
        clients={i: [int(x) for x in p] for i, p in enumerate(parts)},
        holdout=sorted(int(x) for x in held),
        canaries=canary_info,
    )
