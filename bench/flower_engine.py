"""The Flower engine against the in-process engine, and the Flower engine at scale, on loopback.

``default``: the same configuration trained in-process and on a local Flower deployment
(a SuperLink and one SuperNode per client, real processes), in one session; wall time of each,
the ratio, per-round and per-exchange seconds, and whether the two models are byte-identical.
``--flower-set`` overrides apply to the Flower run only (e.g. one training thread per node, where
ten nodes share two cores); ``--cold`` serves the nodes with Flower's own SuperExec (a fresh
interpreter per message) instead of the warm one the one-machine trial uses; ``--no-slots``
lets every node train at once instead of taking turns for the cores, as the trial's do.
``--idle-wait S`` is the longest wait between a SuperNode's empty pulls (the trial's prompter
SuperNode: 0.05 s after a message, doubling up to S, 1 s by default); ``--idle-wait 0`` starts
Flower's own ``flower-supernode``, which waits a fixed 3 s. ``--no-fork`` starts each prompter
SuperNode as an interpreter of its own instead of forking all from one that imported Flower once.
``--cold-server`` has the SuperLink's own SuperExec start a fresh ``flwr-serverapp`` instead of
the warm SuperExec forking the ServerApp. ``--forked-apps`` has the warm SuperExec fork one
ClientApp process per message instead of running each node's ClientApps in one resident process
(``resident_apps``), as the trial does.

``idle``: the cores each kind of process of a federation with no run uses (SuperLink,
SuperNodes, warm SuperExec): the standing price of their polls, which a run's training pays too.

``scale``: a tiny model on 10, 30, 50, ... SuperNodes: rounds completed, seconds per round,
the SuperLink's peak resident memory, and the peak memory of every process of the federation.
A memory guard stops a size whose processes would exhaust the machine, and says so.

    python bench/flower_engine.py default --supernodes 10 [--rounds R] [--set KEY=VALUE] \
        [--flower-set KEY=VALUE] [--cold] [--cold-server] --json flower_engine.jsonl
    python bench/flower_engine.py scale --supernodes 10 30 50 --rounds 2 \
        --json flower_engine.jsonl
    python bench/flower_engine.py idle --supernodes 10 [--idle-wait 0] --json flower_engine.jsonl
    python bench/flower_engine.py table flower_engine.jsonl
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import tempfile
import threading
import time
import warnings
from pathlib import Path

from prism_secure.app import train_run
from prism_secure.config import build_config, parse_set_option
from prism_secure.data.roots import resolve_data_root
from prism_secure.federation.flower.local import APP_DIR, WARM_MODULES, train_slots
from prism_secure.protocols.adapters.flower.loopback import LoopbackFederation
from prism_secure.protocols.adapters.flower.processes import descendants, proc_stat
from prism_secure.protocols.adapters.flower.prompt_supernode import LONGEST_WAIT

TINY = {
    "data.max_records_per_client": 200,
    "model.width": 4,
    "model.latent_dim": 16,
    "features.kind": "rff",
    "features.rff_dim": 64,
    "training.local_iters": 3,
    "training.batch_size": 16,
    "training.threads": 1,  # two nodes train at once on two cores
    "output.track_domain_fid": False,
}


def _kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class MemoryWatch(threading.Thread):
    """Samples the federation's resident memory; when the machine runs low, kills the federation."""

    def __init__(self, min_available_mib: int = 2500) -> None:
        super().__init__(daemon=True)
        self.peak_total_kib = 0
        self.min_available_mib_seen = 1 << 40
        self.tripped = False
        self.min_available_mib = min_available_mib
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(1.0):
            total = sum(_kib(p, "VmRSS:") for p in descendants(os.getpid()))
            self.peak_total_kib = max(self.peak_total_kib, total)
            meminfo = Path("/proc/meminfo").read_text()
            available = int(meminfo.split("MemAvailable:")[1].split()[0]) // 1024
            self.min_available_mib_seen = min(self.min_available_mib_seen, available)
            if available < self.min_available_mib or self.tripped:
                # Stop the federation before the kernel's OOM killer picks a victim for us.
                self.tripped = True
                for pid in descendants(os.getpid()):
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)

    def stop(self) -> None:
        self._halt.set()


def _toml(path: Path, overrides: dict[str, object]) -> Path:
    sections: dict[str, dict[str, object]] = {}
    for key, value in overrides.items():
        if "." in key:
            section, name = key.split(".", 1)
            sections.setdefault(section, {})[name] = value
    text = "".join(
        f"[{s}]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items())
        for s, values in sections.items()
    )
    path.write_text(
        ("seed = " + json.dumps(overrides["seed"]) + "\n" if "seed" in overrides else "") + text
    )
    return path


def _rows(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]


def flower_run(
    work: Path,
    overrides: dict[str, object],
    nodes: int,
    timeout: float,
    min_available_mib: int,
    warm: bool = True,
    slotted: bool = True,
    idle_wait: float | None = LONGEST_WAIT,
    fork: bool = True,
    heartbeat: float | None = None,
    warm_server: bool = True,
    resident: bool = True,
) -> dict:
    """One run on a fresh local federation; its wall time, rows and memory peaks."""
    data = str(resolve_data_root(None).resolve())
    slots = train_slots(build_config(None, overrides)) if slotted else None
    sites = [
        {
            "partition-id": i,
            "num-partitions": nodes,
            "data-dir": data,
            "state-dir": str(work / "sites" / f"site-{i:03d}"),
            **({"train-slots": slots, "train-slots-dir": str(work / "slots")} if slots else {}),
        }
        for i in range(nodes)
    ]
    run_dir = work / "runs" / "flower"
    toml = _toml(work / "run.toml", {**overrides, "partition.num_clients": nodes})
    watch = MemoryWatch(min_available_mib)
    watch.start()
    start = time.perf_counter()
    started, link_peak, status, declared = 0.0, 0, "memory guard tripped", 0.0
    completed = False
    try:
        with LoopbackFederation(
            work / "federation",
            sites,
            startup_timeout=600.0,
            warm=WARM_MODULES if warm else None,
            idle_wait=idle_wait,
            fork=fork,
            heartbeat=heartbeat,
            warm_server=warm_server,
            resident=resident,
        ) as fed:
            started, declared = time.perf_counter() - start, declared_heartbeat(fed)
            run_id = fed.submit(APP_DIR, {"run-dir": str(run_dir), "config": str(toml)})
            end = time.monotonic() + timeout
            summary = run_dir / "summary.json"
            asked = time.monotonic()  # as the trial follows a run: the summary, then the end
            while not watch.tripped and time.monotonic() < end and not summary.exists():
                if time.monotonic() - asked > 30.0:  # a run that died without its summary
                    asked = time.monotonic()
                    if fed.status(run_id)[0].startswith("finished"):
                        break
                time.sleep(0.5)
            if watch.tripped:
                raise RuntimeError("the memory guard stopped the federation")
            remaining = max(1.0, end - time.monotonic())
            outcome = fed.wait(run_id, remaining, poll=2.0, sign=summary, log=False)
            link_peak = _kib(fed.superlink_pid, "VmHWM:")
            completed, status = outcome.completed, outcome.status
    except Exception:  # a federation the guard killed fails in whatever step it was in
        if not watch.tripped:
            raise
    finally:
        watch.stop()
    rows = _rows(run_dir) if (run_dir / "metrics.jsonl").exists() else []
    wall = time.perf_counter() - start
    return {
        "train_slots": slots,
        "heartbeat_s": declared,
        # the run's time outside its rounds: the ServerApp's start, the wait for the sites, the
        # export and the status queries that notice the end
        "outside_rounds_s": wall - started - sum(r["seconds"] for r in rows),
        "completed": completed and not watch.tripped,
        "status": status,
        "memory_guard_tripped": watch.tripped,
        "wall_s": wall,
        "startup_s": started,
        "run_s": wall - started,
        "superlink_peak_mib": link_peak / 1024,
        "all_processes_peak_mib": watch.peak_total_kib / 1024,
        "machine_min_available_mib": watch.min_available_mib_seen,
        "rows": rows,
        "model": (run_dir / "model.prism").read_bytes().hex()
        if (run_dir / "model.prism").exists()
        else None,
    }


def _round_summary(rows: list[dict]) -> dict[str, float]:
    done = [r for r in rows if not r.get("aborted")]
    phases: dict[str, list[float]] = {}
    for r in done:
        for stage, s in (r.get("phase_seconds") or {}).items():
            phases.setdefault(stage, []).append(s)
    return {
        "rounds": len(rows),
        "rounds_completed": len(done),
        "round_s_median": statistics.median(r["seconds"] for r in done) if done else float("nan"),
        **{f"{k}_s_median": statistics.median(v) for k, v in phases.items()},
        # each round's seconds and phases: round 1 holds every site's one-off release
        "round_s": [r["seconds"] for r in rows],
        "phase_s": [r.get("phase_seconds") or {} for r in rows],
    }


def default_cmd(args: argparse.Namespace) -> list[dict]:
    overrides: dict[str, object] = {"seed": 0, "privacy.noise_seed": 0, **dict(args.set)}
    if args.rounds:
        overrides["federation.rounds"] = args.rounds
    overrides["partition.num_clients"] = args.supernodes
    with tempfile.TemporaryDirectory(prefix="flower-engine-") as tmp:
        work = Path(tmp)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            local = train_run(
                build_config(
                    None,
                    {**overrides, "output.runs_dir": str(work / "runs"), "output.name": "local"},
                )
            )
        local_s = time.perf_counter() - start
        flower = flower_run(
            work,
            {**overrides, **dict(args.flower_set), "federation.engine": "flower"},
            args.supernodes,
            args.timeout,
            args.min_available_mib,
            warm=not args.cold,
            slotted=not args.no_slots,
            idle_wait=args.idle_wait,
            fork=not args.no_fork,
            heartbeat=args.heartbeat,
            warm_server=not args.cold_server,
            resident=not args.forked_apps,
        )
        same = flower["model"] == (local / "model.prism").read_bytes().hex()
        row = {
            "bench": "default",
            "supernodes": args.supernodes,
            "in_process_s": local_s,
            "flower_s": flower["wall_s"],
            "flower_startup_s": flower["startup_s"],
            "flower_outside_rounds_s": flower["outside_rounds_s"],
            "ratio": flower["wall_s"] / local_s,
            "identical_model": same,
            "overrides": {k: v for k, v in overrides.items() if k != "partition.num_clients"},
            "flower_overrides": dict(args.flower_set),
            "superexec": "flower" if args.cold else "warm",
            "serverapp": "flower" if args.cold or args.cold_server else "warm",
            "clientapps": _clientapps(args),
            "supernode_idle_wait_s": args.idle_wait,
            "supernodes_forked": args.idle_wait is not None and not args.no_fork,
            "heartbeat_s": flower["heartbeat_s"],
            "train_slots": flower["train_slots"],
            "load_average": os.getloadavg(),
            "completed": flower["completed"],
            "superlink_peak_mib": flower["superlink_peak_mib"],
            "all_processes_peak_mib": flower["all_processes_peak_mib"],
            "machine_min_available_mib": flower["machine_min_available_mib"],
            "in_process": _round_summary(_rows(local)),
            "flower": _round_summary(flower["rows"]),
        }
    return [row]


def scale_cmd(args: argparse.Namespace) -> list[dict]:
    out = []
    for nodes in args.supernodes:
        overrides: dict[str, object] = {
            **TINY,
            "seed": 0,
            "federation.rounds": args.rounds,
            "federation.engine": "flower",
            "flower.startup_timeout": 900.0,
        }
        with tempfile.TemporaryDirectory(prefix=f"flower-scale-{nodes}-") as tmp:
            res = flower_run(
                Path(tmp),
                overrides,
                nodes,
                args.timeout,
                args.min_available_mib,
                not args.cold,
                not args.no_slots,
                args.idle_wait,
                not args.no_fork,
                args.heartbeat,
                resident=not args.forked_apps,
            )
        row = {
            "bench": "scale",
            "supernodes": nodes,
            "superexec": "flower" if args.cold else "warm",
            "clientapps": _clientapps(args),
            "supernode_idle_wait_s": args.idle_wait,
            "supernodes_forked": args.idle_wait is not None and not args.no_fork,
            **{k: v for k, v in res.items() if k not in ("rows", "model")},
            **_round_summary(res["rows"]),
            "survivors": [r.get("survivors") for r in res["rows"]],
        }
        out.append(row)
        print(json.dumps(row), flush=True)
        if res["memory_guard_tripped"]:
            break
    return out


def _clientapps(args: argparse.Namespace) -> str:
    """How the ClientApps ran: Flower's fresh interpreters, forked, or resident per node."""
    return "flower" if args.cold else ("forked" if args.forked_apps else "resident")


def declared_heartbeat(fed: LoopbackFederation) -> float:
    """The heartbeat interval the federation's SuperNodes declare (Flower's own: 30 s)."""
    return 30.0 if fed.idle_wait is None or fed.heartbeat is None else fed.heartbeat


def _cpu_seconds(pid: int) -> float:
    """User and system CPU seconds ``pid`` has used (0 once it is gone)."""
    fields = proc_stat(pid)  # from the state on: utime and stime are the 12th and 13th
    if fields is None:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_cmd(args: argparse.Namespace) -> list[dict]:
    """Cores each kind of process of an idle federation uses: what its polls cost."""
    nodes = [{"partition-id": i, "num-partitions": args.supernodes} for i in range(args.supernodes)]

    def by_kind(fed: LoopbackFederation) -> dict[str, float]:
        """CPU seconds by kind; a forked SuperNode counts as a SuperNode, not as its parent's."""
        out: dict[str, float] = {}
        named = {pid: name.split("-")[0] for name, pid in fed.pids().items()}
        for pid, kind in named.items():
            tree = [pid, *(p for p in descendants(pid) if p not in named)]
            out[kind] = out.get(kind, 0.0) + sum(_cpu_seconds(p) for p in tree)
        return out

    with (
        tempfile.TemporaryDirectory(prefix="flower-idle-") as tmp,
        LoopbackFederation(
            Path(tmp),
            nodes,
            warm=None if args.cold else WARM_MODULES,
            idle_wait=args.idle_wait,
            fork=not args.no_fork,
            heartbeat=args.heartbeat,
            resident=not args.forked_apps,
        ) as fed,
    ):
        time.sleep(args.settle)  # let every process finish starting
        before, start = by_kind(fed), time.monotonic()
        time.sleep(args.seconds)
        after, elapsed = by_kind(fed), time.monotonic() - start
        declared = declared_heartbeat(fed)
    row = {
        "bench": "idle",
        "supernodes": args.supernodes,
        "superexec": "flower" if args.cold else "warm",
        "supernode_idle_wait_s": args.idle_wait,
        "supernodes_forked": args.idle_wait is not None and not args.no_fork,
        "heartbeat_s": declared,
        "seconds": elapsed,
        "cores": {k: (after[k] - before.get(k, 0.0)) / elapsed for k in after},
        "load_average": os.getloadavg(),
    }
    row["cores_total"] = sum(row["cores"].values())
    print(json.dumps(row), flush=True)
    return [row]


def table_cmd(args: argparse.Namespace) -> None:
    rows = [json.loads(x) for x in Path(args.json).read_text().splitlines() if x.strip()]
    for r in rows:
        if r["bench"] == "default":
            f, i = r["flower"], r["in_process"]
            print(
                f"| default, {r['supernodes']} SuperNodes, {r.get('superexec', 'flower')} "
                f"SuperExec | in-process {r['in_process_s']:.0f} s | "
                f"Flower {r['flower_s']:.0f} s (startup {r['flower_startup_s']:.0f} s) | "
                f"ratio {r['ratio']:.2f} | identical model {r['identical_model']} | "
                f"round median {i['round_s_median']:.1f} s vs {f['round_s_median']:.1f} s |"
            )
    print(
        "| SuperNodes | rounds completed | s per round (median) | SuperLink peak MiB "
        "| all processes peak MiB | note |"
    )
    print("|---|---|---|---|---|---|")
    for r in rows:
        if r["bench"] == "scale":
            note = "memory guard tripped" if r["memory_guard_tripped"] else r["status"]
            print(
                f"| {r['supernodes']} ({r.get('superexec', 'flower')}) | "
                f"{r['rounds_completed']}/{r['rounds']} | "
                f"{r['round_s_median']:.1f} | {r['superlink_peak_mib']:.0f} | "
                f"{r['all_processes_peak_mib']:.0f} | {note} |"
            )


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("default")
    d.add_argument("--supernodes", type=int, default=10)
    d.add_argument("--rounds", type=int, default=None)
    d.add_argument("--timeout", type=float, default=4 * 3600)
    d.add_argument(
        "--set",
        type=parse_set_option,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="A config override for both engines.",
    )
    d.add_argument(
        "--flower-set",
        type=parse_set_option,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="A config override for the Flower run only (e.g. training.threads=1).",
    )
    d.add_argument("--json", type=Path, required=True)
    d.add_argument(
        "--cold-server",
        action="store_true",
        help="the SuperLink's own SuperExec starts a fresh flwr-serverapp (not a forked one)",
    )
    s = sub.add_parser("scale")
    s.add_argument("--supernodes", type=int, nargs="+", default=[10, 30, 50])
    s.add_argument("--rounds", type=int, default=2)
    s.add_argument("--timeout", type=float, default=3600)
    s.add_argument("--json", type=Path, required=True)
    i = sub.add_parser("idle")
    i.add_argument("--supernodes", type=int, default=10)
    i.add_argument("--settle", type=float, default=15.0, help="seconds to let processes start")
    i.add_argument("--seconds", type=float, default=30.0, help="seconds measured")
    i.add_argument("--json", type=Path, required=True)
    for parser in (d, s, i):
        parser.add_argument(
            "--cold", action="store_true", help="Flower's own SuperExec, not the warm one"
        )
        parser.add_argument(
            "--idle-wait",
            type=float,
            default=LONGEST_WAIT,
            help="the longest wait between a SuperNode's empty pulls (prompt_supernode); 0: "
            "Flower's own flower-supernode, which waits a fixed 3 s",
        )
        parser.add_argument(
            "--no-slots", action="store_true", help="every node trains at once (no train-slots)"
        )
        parser.add_argument(
            "--forked-apps",
            action="store_true",
            help="the warm SuperExec forks a ClientApp per message (not resident per node)",
        )
        parser.add_argument(
            "--heartbeat",
            type=float,
            default=None,
            help="the heartbeat interval a prompter SuperNode declares (default: the trial's, "
            "10 s up to 10 nodes, longer for more; Flower's own: 30 s)",
        )
        parser.add_argument(
            "--no-fork",
            action="store_true",
            help="each prompter SuperNode an interpreter of its own, not forked from one",
        )
        parser.add_argument(
            "--min-available-mib",
            type=int,
            default=2500,
            help="Kill the federation when the machine's available memory falls below this.",
        )
    t = sub.add_parser("table")
    t.add_argument("json", type=Path)
    args = p.parse_args()
    if getattr(args, "idle_wait", None) == 0:
        args.idle_wait = None
    if args.cmd == "table":
        table_cmd(args)
        return
    commands = {"default": default_cmd, "scale": scale_cmd, "idle": idle_cmd}
    rows = commands[args.cmd](args)
    with args.json.open("a") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
