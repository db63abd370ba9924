"""A site's one DP release: made the first time the site trains in a run, then read back.

The site loads its partition (named by its node config) from its own data folder, encodes its
records once and releases their statistics exactly as the in-process engine does for the same
client, so both engines train on the same targets. The release stays in the site's run folder.
"""

from __future__ import annotations

from pydantic import ValidationError

from prism_secure.artifacts.released import Released, ReleaseStore
from prism_secure.config import RunConfig
from prism_secure.errors import PrismError
from prism_secure.federation.flower.site import SiteConfig, SiteError, run_folder


def site_config(site: SiteConfig, config_json: str) -> RunConfig:
    """The run's configuration, with this site's data folder; checked against its node config."""
    try:
        cfg = RunConfig.model_validate_json(config_json)
    except ValidationError as exc:
        raise SiteError(site.name, f"the server sent an invalid run configuration: {exc}") from None
    if cfg.partition.num_clients != site.num_partitions:
        raise SiteError(
            site.name,
            f"num-partitions {site.num_partitions} differs from the run's partition.num_clients "
            f"{cfg.partition.num_clients}",
        )
    if site.data_dir is not None:
        cfg = cfg.model_copy(
            update={"data": cfg.data.model_copy(update={"root": site.data_dir, "download": False})}
        )
    return cfg


def site_release(
    site: SiteConfig, key: str, config_json: str, prior_releases: int
) -> tuple[RunConfig, Released]:
    """The run's config for this site and its release (made now if this is the first time).

    ``prior_releases`` is what the server's ledger says this site released before: if the site's
    file is gone (its state folder was wiped), the new release is composed with those.
    """
    from prism_secure.app.inputs import setup_threads

    cfg = site_config(site, config_json)
    setup_threads(cfg)  # the release is torch work too: at the run's threads, as in-process
    store = ReleaseStore(run_folder(site, key))
    cid = site.partition_id
    released = store.load(cid)
    if released is not None:
        return cfg, released
    from prism_secure.app.clients import release_client
    from prism_secure.app.inputs import load_inputs
    from prism_secure.privacy import check_release_parameters

    try:
        inputs = load_inputs(cfg)
        check_release_parameters(cfg.privacy, inputs.bound)
    except PrismError as exc:
        raise SiteError(site.name, str(exc)) from exc
    rows = inputs.membership.clients[cid]
    released = release_client(
        cfg,
        inputs.data,
        rows,
        inputs.feature_map,
        cid=cid,
        bound=inputs.bound,
        releases=prior_releases + 1,
    )
    store.save(cid, released)
    return cfg, released
