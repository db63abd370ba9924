"""A run's status from the SuperLink's Control API, asked from this process.

``flwr ls`` answers the same question, but each call is a fresh interpreter that imports Flower's
CLI: about 1.5 CPU-seconds, and a federation waiting for a run asks many times. This asks the
Control API directly, with the headers Flower's CLI sends (no account authentication: a
SuperLink that requires it is asked through ``flwr``).
"""

from __future__ import annotations

from pathlib import Path


def run_status(address: str, run_id: str, ca: Path | None = None) -> tuple[str, str]:
    """``(status, details)`` of ``run_id`` as ``flwr ls`` reports them (``finished:completed``);
    ``("unknown", why)`` when the SuperLink cannot be asked or does not know the run."""
    from flwr.cli.cli_client_interceptor import CliClientHttpInterceptor
    from flwr.proto.control_pb2 import ListRunsRequest
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
        response = client.ListRuns(ListRunsRequest(run_id=int(run_id)))
    except Exception as exc:  # noqa: BLE001 - starting, stopping or refusing: not known now
        return "unknown", f"{type(exc).__name__}: {exc}"
    finally:
        client.close()
    run = response.run_dict.get(int(run_id))
    if run is None:
        return "unknown", f"the SuperLink knows no run {run_id}"
    status = run.status.status
    if run.status.sub_status:
        status = f"{status}:{run.status.sub_status}"
    return status, run.status.details
