"""Partitions: the paper's shards, Dirichlet, IID, attribute splits; reproducible from the seed."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from prism_secure.config import PartitionConfig
from prism_secure.data.partition import partition
from prism_secure.errors import ConfigError

LABELS = np.repeat(np.arange(10), 600)  # 6000 records, 10 balanced classes


def _all(m) -> list[int]:
    return [i for idx in m.clients.values() for i in idx]


def test_shards_give_at_most_four_labels_per_client() -> None:
    m = partition(LABELS, PartitionConfig(scheme="shards"), 0, dataset="t", holdout=200)
    assert len(m.clients) == 10
    for idx in m.clients.values():
        assert len(np.unique(LABELS[idx])) <= 4
    everyone = _all(m)
    assert len(everyone) == len(set(everyone)) == 6000 - 200
    assert set(everyone).isdisjoint(m.holdout)


def test_dirichlet_is_reproducible_and_skewed() -> None:
    cfg = PartitionConfig(scheme="dirichlet", alpha=0.1)
    a = partition(LABELS, cfg, 5, dataset="t")
    b = partition(LABELS, cfg, 5, dataset="t")
    c = partition(LABELS, cfg, 6, dataset="t")
    assert a == b
    assert a != c
    shares = [np.bincount(LABELS[idx], minlength=10).max() / len(idx) for idx in a.clients.values()]
    assert np.mean(shares) > 0.4  # alpha 0.1 concentrates each client on few labels


@given(st.integers(1, 30), st.integers(0, 2**31 - 1))
def test_iid_covers_everything_once(num_clients: int, seed: int) -> None:
    m = partition(
        LABELS,
        PartitionConfig(scheme="iid", num_clients=num_clients),
        seed,
        dataset="t",
        holdout=100,
    )
    everyone = _all(m)
    assert sorted(everyone + m.holdout) == list(range(6000))
    sizes = [len(v) for v in m.clients.values()]
    assert max(sizes) - min(sizes) <= 1


def test_attribute_split_separates_groups() -> None:
    attr = np.tile([0, 1], 3000)
    m = partition(attr, PartitionConfig(scheme="attribute", num_clients=4), 0, dataset="celeba")
    for cid, idx in m.clients.items():
        assert set(attr[idx]) == {cid % 2}


def test_canaries_inserted_with_half_probability_and_recorded() -> None:
    m = partition(LABELS, PartitionConfig(scheme="iid"), 0, dataset="t", holdout=100, canaries=200)
    assert m.canaries is not None
    cands, inserted = m.canaries.candidates, m.canaries.inserted
    assert len(cands) == 200 and set(inserted) <= set(cands)
    assert 70 < len(inserted) < 130
    for c, owner in m.canaries.client_of.items():
        assert int(c) in m.clients[owner]
    outside = set(cands) - set(inserted)
    assert outside.isdisjoint(_all(m))


def test_record_cap_and_empty_clients() -> None:
    m = partition(LABELS, PartitionConfig(scheme="iid"), 0, dataset="t", max_records_per_client=7)
    assert all(len(v) == 7 for v in m.clients.values())
    with pytest.raises(ConfigError):
        partition(LABELS[:5], PartitionConfig(scheme="iid", num_clients=10), 0, dataset="t")
