"""One site (a SuperNode): its node config, its state folder, its one DP release.

A site's node config names which partition of the dataset it serves and where its data and its
state live. Its release is made once per run and kept in its own state folder, never sent
anywhere; the protocol state between phases lives there too, readable by this site only. Every
check names the site and the folder, so a misconfigured SuperNode is easy to find.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from prism_secure.errors import PrismError

#: Node-config keys a site sets with ``flower-supernode --node-config``.
PARTITION, PARTITIONS, DATA_DIR, STATE_DIR = (
    "partition-id",
    "num-partitions",
    "data-dir",
    "state-dir",
)
#: Optional: sites sharing a host train at most this many at once (see ``host_slots``).
TRAIN_SLOTS, TRAIN_SLOTS_DIR = "train-slots", "train-slots-dir"


class SiteError(PrismError):
    """A site cannot take part: its node config, data folder or state folder is unusable."""

    def __init__(self, site: str, message: str) -> None:
        self.site = site
        super().__init__(f"site {site}: {message}")


class SiteConfig(BaseModel):
    """The node config of one site, validated."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    partition_id: int = Field(alias=PARTITION, ge=0)
    num_partitions: int = Field(alias=PARTITIONS, ge=1)
    data_dir: Path | None = Field(default=None, alias=DATA_DIR)
    state_dir: Path = Field(alias=STATE_DIR)
    train_slots: int | None = Field(default=None, alias=TRAIN_SLOTS, ge=1)
    train_slots_dir: Path | None = Field(default=None, alias=TRAIN_SLOTS_DIR)

    @property
    def name(self) -> str:
        return f"partition {self.partition_id}"


def read_site(node_config: Mapping[str, object], node_id: int | None = None) -> SiteConfig:
    """The site's config from Flower's ``context.node_config``; a typed error names what is off."""
    who = f"node {node_id}" if node_id is not None else "this node"
    try:
        site = SiteConfig.model_validate(dict(node_config))
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        raise SiteError(who, f"node config {key!r}: {first['msg']}") from None
    if site.partition_id >= site.num_partitions:
        raise SiteError(
            site.name,
            f"{PARTITION} {site.partition_id} is not below {PARTITIONS} {site.num_partitions}",
        )
    if (site.train_slots is None) != (site.train_slots_dir is None):
        raise SiteError(
            site.name,
            f"node config sets one of {TRAIN_SLOTS!r} and {TRAIN_SLOTS_DIR!r} without the other",
        )
    if site.data_dir is not None and not site.data_dir.is_dir():
        raise SiteError(site.name, f"data folder {site.data_dir} does not exist")
    try:
        site.state_dir.mkdir(parents=True, exist_ok=True)
        probe = site.state_dir / ".writable"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise SiteError(site.name, f"state folder {site.state_dir} is not writable: {exc}") from exc
    return site


def run_folder(site: SiteConfig, run_key: str) -> Path:
    """Where this site keeps one run's release and protocol state (owner-only)."""
    if not run_key or not all(c in "0123456789abcdef" for c in run_key):
        raise SiteError(site.name, f"run key {run_key!r} is not a hex digest")
    folder = site.state_dir / f"run-{run_key}"
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    return folder


def run_key(config_json: str, run_name: str) -> str:
    """A run's identity across server restarts: its configuration and its directory's name."""
    return hashlib.sha256(f"{run_name}\0{config_json}".encode()).hexdigest()[:32]
