"""``prism-secure flower``: what a real Flower deployment needs from this package.

``app`` prints the folder ``flwr run`` takes (the app's ``pyproject.toml``; the ServerApp and the
ClientApp are modules of the installed package on every machine). ``certs`` makes the TLS files
of a SuperLink and one authentication key pair per SuperNode, for a trial or a small federation
without a PKI of its own. ``superexec`` serves a site's SuperNode (started with ``--isolation
process``) with the warm SuperExec, which runs the node's ClientApps in one process that has
imported the package (``--forked``: forks one per message from it) instead of starting a fresh
interpreter for every message; with ``--superlink`` it forks a SuperLink's ServerApps.
``supernode`` runs Flower's own SuperNode with waits between its empty pulls that start at 0.05
s after each message, where flwr 1.42 waits a fixed 3 s, and with 10 s heartbeats, so that the
server learns of a dead site within 20 s where flwr 1.42's 30 s heartbeats take up to a minute.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import typer

from prism_secure.protocols.adapters.flower.heartbeat import DEFAULT as HEARTBEAT
from prism_secure.protocols.adapters.flower.heartbeat import LONGEST, SHORTEST
from prism_secure.protocols.adapters.flower.prompt_supernode import FIRST_WAIT, LONGEST_WAIT

flower_app = typer.Typer(
    help=(
        "A Flower deployment: the app folder for `flwr run`, TLS files and SuperNode keys, "
        "a warm SuperExec and a prompter SuperNode for a site."
    ),
    no_args_is_help=True,
)


@flower_app.command("app")
def app_command() -> None:
    """Print the PRISM app folder to pass to `flwr run`."""
    from prism_secure.federation.flower.local import APP_DIR

    typer.echo(str(APP_DIR))


@flower_app.command("certs")
def certs_command(
    out: Path = typer.Argument(..., help="Folder to write into (created; keys are 0600)."),
    host: list[str] = typer.Option(
        ..., "--host", help="A name or IP address the SuperLink is reached at (repeatable)."
    ),
    nodes: int = typer.Option(0, "--nodes", min=0, help="SuperNode key pairs to make."),
    days: int = typer.Option(365, "--days", min=1, help="Validity of the certificates."),
) -> None:
    """Make a CA, a SuperLink certificate for HOST, and NODES SuperNode key pairs."""
    from prism_secure.protocols.adapters.flower.certificates import make_node_key, make_tls_files

    if out.is_file() or (out.is_dir() and any(out.iterdir())):
        typer.echo(f"error: {out} exists and is not empty; choose a new folder", err=True)
        raise typer.Exit(code=2)
    files = make_tls_files(out, hosts=host, days=days)
    typer.echo(f"CA certificate (every site and the flwr CLI): {files.ca}")
    typer.echo(f"SuperLink certificate and key: {files.certificate} {files.key}")
    typer.echo(f"CA key (keep offline): {out / 'ca.key'}")
    for i in range(nodes):
        private, public = make_node_key(out / "nodes", f"node-{i}")
        typer.echo(f"site {i}: public key {public} (register it), private key {private}")


@flower_app.command("superexec")
def superexec_command(
    node: str | None = typer.Option(
        None,
        "--node",
        help="The SuperNode's runtime address (its --port); default 127.0.0.1:9094 unless "
        "--superlink is given.",
    ),
    supernode_pid: int = typer.Option(
        0, "--supernode-pid", min=0, help="Stop when this SuperNode process ends (0: never)."
    ),
    superlink: str | None = typer.Option(
        None,
        "--superlink",
        help="Also fork the ServerApps of this SuperLink (started with --isolation process), "
        "at its address (its --port).",
    ),
    superlink_pid: int = typer.Option(
        0, "--superlink-pid", min=0, help="Stop when this SuperLink process ends (0: never)."
    ),
    superlink_ca: Path | None = typer.Option(
        None, "--superlink-ca", help="The CA certificate of a SuperLink served over TLS."
    ),
    poll: float = typer.Option(0.5, "--poll", min=0.01, help="Seconds between task polls."),
    resident: bool = typer.Option(
        True,
        "--resident/--forked",
        help="Run the SuperNode's ClientApps one after another in one process of its own "
        "(resident), or fork one process per message.",
    ),
    preload: list[str] = typer.Option(
        [],
        "--preload",
        help="A library to import once (repeatable); default: PRISM's apps and their "
        "libraries. Another app's sites name their own, e.g. numpy.",
    ),
) -> None:
    """Run a SuperNode's ClientApps (and fork a SuperLink's ServerApps) warm, not from a fresh
    interpreter each: serve processes started with `--isolation process`."""
    from pydantic import ValidationError

    from prism_secure.protocols.adapters.flower.warm_superexec import WarmNode, serve

    def peer(flag: str, address: str, pid: int, ca: Path | None = None) -> WarmNode:
        try:
            return WarmNode(address=address, pid=pid or None, ca=ca)
        except ValidationError:
            missing_ca = ca is not None and not ca.is_file()
            why = f"has no CA file at {ca}" if missing_ca else "is not HOST:PORT"
            typer.echo(f"error: {flag} {address!r} {why}", err=True)
            raise typer.Exit(code=2) from None

    if node is None and superlink is None:
        node = "127.0.0.1:9094"
    nodes = [peer("--node", node, supernode_pid)] if node else []
    link = peer("--superlink", superlink, superlink_pid, superlink_ca) if superlink else None
    if not preload:
        from prism_secure.federation.flower.local import WARM_MODULES

        preload = list(WARM_MODULES)
    for name in preload:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            typer.echo(f"error: --preload {name!r}: no such module here", err=True)
            raise typer.Exit(code=2)
    serve(nodes, preload, poll, link, resident)


@flower_app.command(
    "supernode",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def supernode_command(
    ctx: typer.Context,
    idle_wait: float = typer.Option(
        LONGEST_WAIT,
        "--idle-wait",
        min=FIRST_WAIT,
        help="The longest wait between the node's pulls while no message comes (Flower's: 3 s).",
    ),
    heartbeat: float = typer.Option(
        HEARTBEAT,
        "--heartbeat",
        min=SHORTEST,
        max=LONGEST,
        help="The heartbeat interval the node declares; the SuperLink reports it gone within"
        " twice that (Flower's: 30 s).",
    ),
) -> None:
    """Run flower-supernode, asking the SuperLink again sooner after each message.

    Arguments after `--` go to flower-supernode unchanged.
    """
    from prism_secure.protocols.adapters.flower.prompt_supernode import main

    main(["--idle-wait", str(idle_wait), "--heartbeat", str(heartbeat), *ctx.args])
