"""The ``prism-secure`` Typer application."""

from __future__ import annotations

import atexit
import gc

import typer

from prism_secure.cli.audit import audit_command
from prism_secure.cli.evaluate import evaluate_command
from prism_secure.cli.flower import flower_app
from prism_secure.cli.sample import sample_command
from prism_secure.cli.train import train_command

app = typer.Typer(
    name="prism-secure",
    help="Federated masked-generator training with differential privacy and secure aggregation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("train")(train_command)
app.command("sample")(sample_command)
app.command("evaluate")(evaluate_command)
app.command("audit")(audit_command)
app.add_typer(flower_app, name="flower")


def main() -> None:
    # At exit, the interpreter's garbage collection walks every object torch and its kin made
    # (about 2 s here) to free memory the ending process returns anyway; frozen objects are
    # skipped. Registered first, so it runs after every other exit handler.
    atexit.register(gc.freeze)
    app()


if __name__ == "__main__":
    main()
