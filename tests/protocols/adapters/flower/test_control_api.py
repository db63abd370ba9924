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
)
from prism_secure.protocols.adapters.flower.processes import free_ports


def test_a_superlink_that_does_not_answer_gives_no_status_and_enrols_nobody(
    tmp_path: Path,
) -> None:
    (port,) = free_ports(1)  # nothing listens there
    status, why = run_status(f"127.0.0.1:{port}", "7")
    assert status == "unknown" and why
    _, public = make_node_key(tmp_path, "node-0")
    with pytest.raises(ControlApiError, match="refused"):
        register_node(f"127.0.0.1:{port}", public)


def test_a_key_flower_would_not_take_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    public = tmp_path / "node.pub"
    public.write_bytes(
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    )
    with pytest.raises(ControlApiError, match="no EC public key"):
        register_node("127.0.0.1:1", public)
