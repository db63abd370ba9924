"""What a site does in each exchange: train and advertise keys, then one protocol step.

Flower may run every message in a fresh ClientApp process (its own SuperExec does; a resident
one need not), so the SecAgg client travels between phases as its exported state, in a file of
the site's own run folder (owner-only, written atomically, removed when the round ends). That
file is as secret as the client's keys; it never leaves the site.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from prism_secure.artifacts.atomic import write_bytes_atomic
from prism_secure.federation.flower.host_slots import training_slot
from prism_secure.federation.flower.site import SiteConfig, SiteError, run_folder
from prism_secure.protocols import SecAggClient, SessionParams
from prism_secure.protocols.errors import AbortedError, ProtocolViolation, SecAggError

#: What the training exchange imports when it runs; a warm SuperExec imports them once.
TRAINING_MODULES = (
    "prism_secure.app.clients",
    "prism_secure.app.generator",
    "prism_secure.app.inputs",
    "prism_secure.data.datasets",
    "prism_secure.features.factory",
    "prism_secure.federation.broadcast",
    "prism_secure.federation.client_round",
    "prism_secure.federation.flower.site_release",
    "prism_secure.federation.seeds",
)


@dataclass(frozen=True)
class TrainReply:
    advertise: bytes
    loss: float
    record_json: str  # the site's ledger record: public parameters of its release


def _state_path(site: SiteConfig, key: str, round_index: int) -> Path:
    return run_folder(site, key) / f"secagg-round-{round_index:06d}.state"


def save_client(path: Path, client: SecAggClient) -> None:
    write_bytes_atomic(path, client.export_state())
    os.chmod(path, 0o600)


def load_client(path: Path, site: SiteConfig, round_index: int) -> SecAggClient:
    if not path.exists():
        raise SiteError(site.name, f"holds no protocol state for round {round_index}")
    return SecAggClient.from_state(path.read_bytes())


def train_and_advertise(
    site: SiteConfig,
    key: str,
    round_index: int,
    config_json: str,
    session_json: str,
    scores: bytes,
    prior_releases: int,
) -> TrainReply:
    """Release once (if not yet), train from the global scores, start this round's SecAgg."""
    from prism_secure.app.clients import client_target
    from prism_secure.app.generator import build_run_generator
    from prism_secure.data.datasets import IMAGE_SHAPES
    from prism_secure.features.factory import build_feature_map
    from prism_secure.federation.broadcast import BroadcastError, receive
    from prism_secure.federation.client_round import Client, client_round
    from prism_secure.federation.flower.site_release import site_release
    from prism_secure.federation.seeds import model_digest

    params = SessionParams.model_validate_json(session_json)
    if params.insecure:  # PRISM's server never asks for this; a server that does is refused
        raise SiteError(site.name, "refuses a session marked insecure")
    with training_slot(site.train_slots_dir, site.train_slots):
        cfg, released = site_release(site, key, config_json, prior_releases)
        generator = build_run_generator(cfg)
        try:
            global_scores = receive(scores, cfg.federation.broadcast_bits, generator.num_maskable)
        except BroadcastError as exc:
            raise SiteError(site.name, str(exc)) from exc
        feature_map = build_feature_map(cfg.features, IMAGE_SHAPES[cfg.data.dataset])
        client = Client(site.partition_id, client_target(released))
        result = client_round(cfg, generator, feature_map, client, global_scores, round_index)
    secagg = SecAggClient(
        site.partition_id,
        result.upload,
        params,
        round_index=round_index,
        model_digest=model_digest(global_scores, round_index),
    )
    advertise = secagg.start()
    save_client(_state_path(site, key, round_index), secagg)
    return TrainReply(advertise, result.loss, released.record.model_dump_json())


def protocol_step(site: SiteConfig, key: str, round_index: int, data: bytes) -> bytes:
    """Hand one server message to this round's SecAgg client; its reply (b"" for none).

    A refused message that leaves the client unchanged (bad bytes, a replay) gets no reply; a
    protocol violation aborts the client, and its reply is the ``ClientAbort`` that says why.
    """
    path = _state_path(site, key, round_index)
    client = load_client(path, site, round_index)
    try:
        replies = client.receive(data)
    except ProtocolViolation as exc:
        path.unlink(missing_ok=True)
        return exc.abort_message or b""
    except AbortedError:
        path.unlink(missing_ok=True)
        return b""
    except SecAggError:
        return b""  # the client is as it was: nothing to answer, nothing to save
    if client.holds_secrets:
        save_client(path, client)
    else:
        path.unlink(missing_ok=True)
    return replies[0] if replies else b""


def forget_round(site: SiteConfig, key: str, round_index: int) -> None:
    """The server aborted the round: drop this round's protocol state."""
    _state_path(site, key, round_index).unlink(missing_ok=True)
