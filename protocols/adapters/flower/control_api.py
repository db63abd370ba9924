"""The SuperLink's Control API, asked from this process: start a run, its status, enrol a node.

``flwr run``, ``flwr ls`` and ``flwr supernode register`` do the same, but each call is a fresh
interpreter that imports Flower's CLI: about 1.5-2 CPU-seconds, and a federation asks for a
run's status many times, enrols every node, and waits for its run to start before anything
else happens. These send the same requests with the headers Flower's CLI sends, built by
Flower's own functions, without account authentication: a SuperLink that requires it is asked
through ``flwr``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


class ControlApiError(RuntimeError):
    """The SuperLink refused or did not answer a Control API request."""


@contextmanager
def _client(address: str, ca: Path | None) -> Iterator[Any]:
    from flwr.cli.cli_client_interceptor import CliClientHttpInterceptor
    from flwr.supercore.control.control_http_client import ControlHttpClient
    from flwr.supercore.interceptors import RuntimeVersionHttpInterceptor

    client = ControlHttpClient.from_server_address(
        server_address=address,
        insecure=ca is None,
        root_certificates=ca.read_bytes() if ca is not None else None,
        interceptors=[
            CliClientHttpInterceptor(),
            RuntimeVersionHttpInterceptor(component_name="flwr CLI"),
        ],
    )
    try:
        yield client
    finally:
        client.close()


def run_status(address: str, run_id: str, ca: Path | None = None) -> tuple[str, str]:
    """``(status, details)`` of ``run_id`` as ``flwr ls`` reports them (``finished:completed``);
    ``("unknown", why)`` when the SuperLink cannot be asked or does not know the run."""
    from flwr.proto.control_pb2 import ListRunsRequest

    try:
        with _client(address, ca) as client:
            response = client.ListRuns(ListRunsRequest(run_id=int(run_id)))
    except Exception as exc:  # noqa: BLE001 - starting, stopping or refusing: not known now
        return "unknown", f"{type(exc).__name__}: {exc}"
    run = response.run_dict.get(int(run_id))
    if run is None:
        return "unknown", f"the SuperLink knows no run {run_id}"
    status = run.status.status
    if run.status.sub_status:
        status = f"{status}:{run.status.sub_status}"
    return status, run.status.details


def register_node(address: str, public_key: Path, ca: Path | None = None) -> int:
    """Enrol the SuperNode whose OpenSSH EC public key is in ``public_key``; its node id."""
    from flwr.proto.control_pb2 import RegisterNodeRequest

    key = serialization.load_ssh_public_key(public_key.read_bytes())
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ControlApiError(f"{public_key} holds no EC public key")
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )  # what flwr supernode register sends
    try:
        with _client(address, ca) as client:
            response = client.RegisterNode(RegisterNodeRequest(public_key=pem))
    except Exception as exc:  # noqa: BLE001 - Flower's client raises its own kinds
        raise ControlApiError(f"the SuperLink refused {public_key}: {exc}") from exc
    if not response.node_id:
        raise ControlApiError(f"the SuperLink enrolled no node for {public_key}")
    return int(response.node_id)


def start_run(
    address: str, app_dir: Path, run_config: Mapping[str, Any], ca: Path | None = None
) -> int:
    """Start the app in ``app_dir`` with ``run_config`` overriding its config, as
    ``flwr run APP_DIR CONNECTION --run-config`` does for a connection with no federation and
    no options; the run id. The app's modules are not imported here: its ServerApp loads them.
    A SuperLink that refuses raises :class:`ControlApiError`; it started nothing."""
    from flwr.cli.build import build_fab_from_disk
    from flwr.cli.config_utils import load_and_validate
    from flwr.common.constant import FAB_CONFIG_FILE
    from flwr.common.serde import fab_to_proto, user_config_to_proto
    from flwr.proto.control_pb2 import StartRunRequest
    from flwr.supercore.fab import Fab

    try:
        load_and_validate(app_dir / FAB_CONFIG_FILE, check_module=False)
        fab_bytes = build_fab_from_disk(app_dir)
    except (OSError, ValueError) as exc:
        raise ControlApiError(f"{app_dir} is not a Flower app: {exc}") from exc
    fab = Fab(hashlib.sha256(fab_bytes).hexdigest(), fab_bytes, {})
    request = StartRunRequest(
        fab=fab_to_proto(fab),
        override_config=user_config_to_proto(dict(run_config)),
        federation="",
        app_spec="",
    )
    try:
        with _client(address, ca) as client:
            response = client.StartRun(request)
    except Exception as exc:  # noqa: BLE001 - Flower's client raises its own kinds
        raise ControlApiError(f"the SuperLink at {address} refused the run: {exc}") from exc
    if not response.HasField("run_id"):
        raise ControlApiError(f"the SuperLink at {address} started no run")
    return int(response.run_id)
