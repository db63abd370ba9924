"""Client preparation: each client's one DP release, made before round 1 and persisted.

The only place real records are read during training. Each client encodes its records once,
releases their (per-class) feature statistics through :mod:`prism_secure.privacy`, and writes
the release to ``released/`` before any round starts, so a stop anywhere later resumes with the
same release instead of spending the budget again.
"""

from __future__ import annotations

import torch

from prism_secure.app.generator import label_count
from prism_secure.artifacts.released import Released, ReleaseStore
from prism_secure.artifacts.schema import Membership
from prism_secure.config import RunConfig
from prism_secure.data.datasets import ImageData
from prism_secure.features.base import FeatureMap
from prism_secure.features.moments import ClassMoments, FeatureMoments
from prism_secure.federation.client_round import Client
from prism_secure.privacy import (
    PrivacyLedger,
    ReleasedClassStatistics,
    release_class_statistics,
    release_statistics,
)


def record_bound(cfg: RunConfig, dataset_size: int) -> int:
    """The public bound on records per client: ``privacy.max_records``, else what the subset cap
    and the canaries allow, else the size of the split. All three are public.

    Delta and the noise multiplier come from it, never from a client's true count.
    """
    if cfg.privacy.max_records is not None:
        return int(cfg.privacy.max_records)
    if cfg.data.max_records_per_client is not None:
        return min(int(dataset_size), cfg.data.max_records_per_client + cfg.audit.canaries)
    return int(dataset_size)


def client_target(released: Released) -> FeatureMoments | ClassMoments:
    """What training matches: the released moments (and, per class, the class weights)."""
    if isinstance(released, ReleasedClassStatistics):
        return ClassMoments(released.mean, released.var, released.class_weights())
    return FeatureMoments(released.mean, released.var)


def release_client(
    cfg: RunConfig,
    data: ImageData,
    rows: list[int],
    feature_map: FeatureMap,
    *,
    cid: int,
    bound: int,
    releases: int,
) -> Released:
    """One client's features, computed once and released (with DP when on), per label if
    conditional; ``releases`` counts this client's releases in the run, this one included."""
    index = torch.as_tensor(rows, dtype=torch.long)
    feats = feature_map.encode_all(data.images[index])
    common = {"cfg": cfg.privacy, "max_records": bound, "stream": cid, "releases": releases}
    if label_count(cfg):
        return release_class_statistics(feats, data.labels[index], label_count(cfg), **common)
    return release_statistics(feats, **common)


def prepare_clients(
    cfg: RunConfig,
    data: ImageData,
    membership: Membership,
    feature_map: FeatureMap,
    store: ReleaseStore,
    prior: PrivacyLedger | None = None,
) -> tuple[list[Client], PrivacyLedger]:
    """Every client's release, made once and persisted before any round, or read back.

    A client whose release is on disk reuses it. One without (a first start, or a start cut
    short) releases now; if ``prior`` (the ledger of an earlier start) shows it released before,
    its file was lost and the new release is composed with the old ones in the ledger.
    """
    bound = record_bound(cfg, len(data.labels))
    clients, records = [], {}
    for cid, rows in sorted(membership.clients.items()):
        released = store.load(cid)
        if released is None:
            before = prior.clients[cid].num_releases if prior and cid in prior.clients else 0
            released = release_client(
                cfg, data, rows, feature_map, cid=cid, bound=bound, releases=before + 1
            )
            store.save(cid, released)
        clients.append(Client(cid, client_target(released)))
        records[cid] = released.record
    return clients, PrivacyLedger.from_records(cfg.privacy, records)
