"""The terminal face of a training run: rich progress bars and notices on stderr."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class RichEvents:
    """:class:`prism_secure.app.events.TrainingEvents` drawn as two bars: rounds, clients."""

    def __init__(self, console: Console, enabled: bool = True) -> None:
        self.console = console
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[info]}"),
            console=console,
            disable=not enabled,
            transient=False,
        )
        self._rounds = self._clients = None

    def notice(self, text: str) -> None:
        self.console.print(f"[yellow]warning:[/] {text}")

    def rounds_started(self, first: int, last: int, clients: int) -> None:
        self.progress.start()
        self._rounds = self.progress.add_task("rounds", total=last, completed=first - 1, info="")
        if clients:  # engines that report each client's training (in-process)
            self._clients = self.progress.add_task("clients", total=clients, info="")

    def client_trained(self, round_index: int, cid: int) -> None:
        if self._clients is not None:
            self.progress.advance(self._clients)

    def round_finished(self, record: dict[str, Any]) -> None:
        if record.get("aborted"):
            self.notice(f"round {record['round']}: {record.get('reason', 'aborted')}")
        info = f"loss {record['loss']:.4g}"
        if "lambda" in record:
            info += f"  lambda {record['lambda']:.3f}"
        self.progress.update(self._rounds, advance=1, info=info)
        if self._clients is not None:
            self.progress.reset(self._clients)

    def run_finished(self, run_dir: Path, summary: dict[str, Any]) -> None:
        self.progress.stop()
        size = int(summary["model_bytes"])
        self.console.print(f"model: {run_dir / 'model.prism'} ({size / 1024:.1f} KiB)")
        chosen = summary.get("secure_agg_parameters")
        if chosen:
            k = f", k = {chosen['neighbours']}" if chosen.get("neighbours") else ""
            self.console.print(
                f"secure aggregation: {summary['secure_agg']}, {chosen['graph']} graph{k}, "
                f"t = {chosen['threshold']} of {chosen['clients']} clients, abort risk per "
                f"round <= {chosen['stall']:.2g}"
            )
        self.console.print(f"[bold]privacy:[/] {summary['privacy']}")

    def close(self) -> None:
        """Stop drawing, also when the run failed."""
        self.progress.stop()
