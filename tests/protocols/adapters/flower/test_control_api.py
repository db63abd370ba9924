"""The Control API asked from this process: what it refuses before it asks, and a SuperLink that
does not answer. Both calls are used for real by the TLS-and-authentication process test, whose
SuperNodes join only because they were enrolled this way and whose run's end is read this way."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from prism_secure.protocols.adapters.flower.certificates import make_node_key
from prism_secure.protocols.adapters.flower.control_api import (
    ControlApiError,
    register_node,
    run_status,
    start_run,
)
from prism_secure.protocols.adapters.flower.processes import free_ports

APP_DIR = Path(__file__).parents[4] / "prism_secure" / "federation" / "flower" / "flower-app"


def test_a_superlink_that_does_not_answer_gives_no_status_and_enrols_nobody(
    tmp_path: Path,
) -> None:
    (port,) = free_ports(1)  # nothing listens there
    status, why = run_status(f"127.0.0.1:{port}", "7")
    assert status == "unknown" and why
    _, public = make_node_key(tmp_path, "node-0")
    with pytest.raises(ControlApiError, match="refused"):
        register_node(f"127.0.0.1:{port}", public)
    with pytest.raises(ControlApiError, match="refused the run"):
        start_run(f"127.0.0.1:{port}", APP_DIR, {"run-dir": str(tmp_path)})


def test_a_folder_that_is_no_flower_app_is_refused_before_anything_is_sent(
    tmp_path: Path,
) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')  # no [tool.flwr.app]
    for app in (tmp_path, tmp_path / "missing"):
        with pytest.raises(ControlApiError, match="is not a Flower app"):
            start_run("127.0.0.1:1", app, {})


def test_a_key_flower_would_not_take_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    public = tmp_path / "node.pub"
    public.write_bytes(
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    )
    with pytest.raises(ControlApiError, match="no EC public key"):
        register_node("127.0.0.1:1", public)
