"""The SuperLink's Control API, asked from this process: a run's status, a node's enrolment.

``flwr ls`` and ``flwr supernode register`` do the same, but each call is a fresh interpreter
that imports Flower's CLI: about 1.5 CPU-seconds, and a federation asks for a run's status many
times and enrols every node. These send the same requests with the headers Flower's CLI sends,
without account authentication: a SuperLink that requires it is asked through ``flwr``.
"""

from __future__ import annotations

from collections.abc import Iterator
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
