"""The PRISM ServerApp: the run directory, the rounds and the export, on the SuperLink's side.

Run config (``flwr run APP FEDERATION --run-config ...``): ``run-dir``, the run directory on the
machine the ServerApp runs on, and, for a new run, ``config``, a TOML run configuration there.
An existing run directory is resumed from its last checkpoint, so a restarted server continues
where it stopped. The server never sees a record, a record count, a released statistic or an
individual mask: its ledger holds the public parameters each site reports.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flwr.app import Context
from flwr.serverapp import Grid, ServerApp

from prism_secure.errors import RunDirError

app = ServerApp()


class LogEvents:
    """Progress as lines on the ServerApp's output (``flwr log``)."""

    def notice(self, text: str) -> None:
        print(f"warning: {text}", flush=True)

    def rounds_started(self, first: int, last: int, clients: int) -> None:
        print(f"rounds {first}..{last} with {clients} sites", flush=True)

    def client_trained(self, round_index: int, cid: int) -> None:
        pass

    def round_finished(self, record: dict[str, Any]) -> None:
        state = "aborted" if record.get("aborted") else f"{record.get('survivors')} survivors"
        print(f"round {record['round']}: {state}, loss {record.get('loss')}", flush=True)

    def run_finished(self, run_dir: Path, summary: dict[str, Any]) -> None:
        print(f"model: {run_dir / 'model.prism'}; privacy: {summary['privacy']}", flush=True)


def open_run(run_config: dict[str, Any]) -> Any:
    """The run directory named by the run config: resumed if it exists, else created."""
    from prism_secure.artifacts.rundir import RunDirectory
    from prism_secure.config import build_config

    run_dir = Path(str(run_config.get("run-dir", "")))
    if not str(run_config.get("run-dir", "")):
        raise RunDirError("the run config needs run-dir, the run directory on the server")
    if (run_dir / "config.json").exists():
        return RunDirectory.open(run_dir)
    toml = str(run_config.get("config", ""))
    if not toml:
        raise RunDirError(f"{run_dir} holds no run; pass config, a TOML run configuration")
    cfg = build_config(Path(toml), {"federation.engine": "flower"})
    cfg = cfg.model_copy(
        update={
            "output": cfg.output.model_copy(
                update={"runs_dir": run_dir.parent, "name": run_dir.name}
            )
        }
    )
    return RunDirectory.create(cfg)


@app.main()
def main(grid: Grid, context: Context) -> None:
    from prism_secure.federation.flower.server_run import serve

    serve(grid, open_run(dict(context.run_config)), LogEvents())
