"""``prism-secure flower``: the app folder for ``flwr run``; TLS files and SuperNode keys."""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_ssh_private_key, load_ssh_public_key
from typer.testing import CliRunner

from prism_secure.cli.app import app

runner = CliRunner()


def test_app_prints_the_folder_flwr_run_takes() -> None:
    result = runner.invoke(app, ["flower", "app"])
    assert result.exit_code == 0, result.output
    folder = Path(result.output.strip())
    project = tomllib.loads((folder / "pyproject.toml").read_text())
    components = project["tool"]["flwr"]["app"]["components"]
    assert components == {
        "serverapp": "prism_secure.federation.flower.server_app:app",
        "clientapp": "prism_secure.federation.flower.client_app:app",
    }


def test_certs_makes_a_link_certificate_for_its_hosts_and_node_keys(tmp_path: Path) -> None:
    out = tmp_path / "pki"
    args = ["flower", "certs", str(out), "--host", "link.example.org", "--host", "10.0.0.5"]
    result = runner.invoke(app, [*args, "--nodes", "2"])
    assert result.exit_code == 0, result.output
    ca = x509.load_pem_x509_certificate((out / "ca.crt").read_bytes())
    link = x509.load_pem_x509_certificate((out / "superlink.crt").read_bytes())
    assert link.issuer == ca.subject
    ca.public_key().verify(  # type: ignore[union-attr]
        link.signature, link.tbs_certificate_bytes, ec.ECDSA(link.signature_hash_algorithm)
    )
    san = link.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["link.example.org"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.0.0.5")]
    for i in range(2):
        private = load_ssh_private_key((out / "nodes" / f"node-{i}.key").read_bytes(), None)
        public = load_ssh_public_key((out / "nodes" / f"node-{i}.pub").read_bytes())
        assert isinstance(private, ec.EllipticCurvePrivateKey)
        assert private.public_key().public_numbers() == public.public_numbers()  # type: ignore[union-attr]
        assert (out / "nodes" / f"node-{i}.key").stat().st_mode & 0o077 == 0
    for secret in ("ca.key", "superlink.key"):
        assert (out / secret).stat().st_mode & 0o077 == 0


def test_certs_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "old.key").write_text("keep me")
    result = runner.invoke(app, ["flower", "certs", str(tmp_path), "--host", "localhost"])
    assert result.exit_code == 2
    assert "not empty" in result.output
    assert (tmp_path / "old.key").read_text() == "keep me"
    assert not (tmp_path / "ca.crt").exists()


def test_superexec_refuses_a_bad_node_address() -> None:
    result = runner.invoke(app, ["flower", "superexec", "--node", "not-an-address"])
    assert result.exit_code == 2
    assert "--node 'not-an-address' is not HOST:PORT" in result.output


def test_superexec_refuses_a_preload_module_that_does_not_exist() -> None:
    result = runner.invoke(
        app, ["flower", "superexec", "--node", "127.0.0.1:9094", "--preload", "no_such_module_x"]
    )
    assert result.exit_code == 2
    assert "--preload 'no_such_module_x': no such module here" in result.output


@pytest.mark.parametrize(
    ("peer", "telemetry", "flags", "served_line"),
    [
        (
            "--node",
            None,
            [],
            "warm SuperExec serving 1 SuperNode(s); Flower's telemetry on, resident ClientApps",
        ),
        (
            "--node",
            "0",
            ["--forked"],
            "warm SuperExec serving 1 SuperNode(s); Flower's telemetry off",
        ),
        # with --superlink and no --node: the SuperLink's ServerApps and no SuperNode
        (
            "--superlink",
            "0",
            [],
            "warm SuperExec serving 0 SuperNode(s) and a SuperLink; Flower's telemetry off",
        ),
    ],
)
def test_superexec_serves_until_its_peer_ends(
    peer: str, telemetry: str | None, flags: list[str], served_line: str
) -> None:
    """The command loads its libraries once and stops with the SuperNode (or SuperLink) it was
    told to follow (``--preload json`` keeps the start short; PRISM's default list is loaded by
    the warm SuperExec of the real-process equivalence test). Flower's telemetry is as the
    site's environment sets it; a SuperNode's ClientApps are resident unless ``--forked``."""
    import time

    from prism_secure.protocols.adapters.flower.processes import free_ports

    followed = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    (port,) = free_ports(1)
    pid_flag = "--supernode-pid" if peer == "--node" else "--superlink-pid"
    argv = [sys.executable, "-m", "prism_secure.cli.app", "flower", "superexec"]
    argv += [peer, f"127.0.0.1:{port}", pid_flag, str(followed.pid)]
    argv += ["--preload", "json", *flags]
    env = {k: v for k, v in os.environ.items() if k != "FLWR_TELEMETRY_ENABLED"}
    if telemetry is not None:
        env["FLWR_TELEMETRY_ENABLED"] = telemetry
    served = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    try:
        assert served.stdout is not None
        assert served.stdout.readline().strip() == served_line
        time.sleep(0.5)
        assert served.poll() is None
        followed.kill()
        assert served.wait(timeout=60) == 0
    finally:
        followed.kill()
        served.kill()
        served.wait()


def test_supernode_hands_every_argument_after_its_options_to_the_prompter_supernode(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from prism_secure.protocols.adapters.flower import prompt_supernode

    seen: list[list[str]] = []
    monkeypatch.setattr(prompt_supernode, "main", lambda argv: seen.append(list(argv)))
    argv = ["flower", "supernode", "--idle-wait", "0.5", "--", "--superlink", "h:9092", "--help"]
    result = runner.invoke(app, argv)
    assert result.exit_code == 0, result.output
    assert seen == [
        ["--idle-wait", "0.5", "--heartbeat", "10.0", "--superlink", "h:9092", "--help"]
    ]
    result = runner.invoke(app, ["flower", "supernode", "--heartbeat", "25", "--", "--insecure"])
    assert result.exit_code == 0, result.output
    assert seen[-1] == ["--idle-wait", "1.0", "--heartbeat", "25.0", "--insecure"]


def test_supernode_refuses_a_wait_below_its_minimum() -> None:
    result = runner.invoke(app, ["flower", "supernode", "--idle-wait", "0.01", "--", "--insecure"])
    assert result.exit_code == 2
    assert "--idle-wait" in result.output


@pytest.mark.parametrize("bad", ["9", "1801"])
def test_supernode_refuses_a_heartbeat_the_superlink_would_refuse(bad: str) -> None:
    result = runner.invoke(app, ["flower", "supernode", "--heartbeat", bad, "--", "--insecure"])
    assert result.exit_code == 2
    assert "--heartbeat" in result.output


def test_superexec_refuses_a_bad_superlink_address_or_a_missing_ca(tmp_path: Path) -> None:
    result = runner.invoke(app, ["flower", "superexec", "--superlink", "not-an-address"])
    assert result.exit_code == 2 and "--superlink 'not-an-address'" in result.output
    missing = tmp_path / "ca.crt"
    args = ["flower", "superexec", "--superlink", "127.0.0.1:8000", "--superlink-ca", str(missing)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "no CA" in result.output
