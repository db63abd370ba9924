"""Operating-system helpers for a local Flower deployment: ports, process trees, reaping.

Flower's processes start each other (a SuperLink its SuperExec, a SuperExec a ServerApp or a
ClientApp per message), some in sessions of their own; to stop all of them the federation becomes
a child subreaper on Linux, gives each child a parent-death signal, and walks ``/proc``.
"""

from __future__ import annotations

import ctypes
import os
import shlex
import signal
import socket
import sys
import time
import traceback
from importlib import metadata
from pathlib import Path

PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER = 1, 36


class FederationError(RuntimeError):
    """A process of the local federation failed to start or a run could not be submitted."""


def linux_prctl(option: int, value: int) -> None:
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)


def child_setup() -> None:  # pragma: no cover - runs in the child before exec
    linux_prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports (all bound at once, then released)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def proc_stat(pid: int | str) -> list[bytes] | None:
    """The fields of ``/proc/PID/stat`` after the command name (state, ppid, ...); None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    return stat[stat.rindex(b")") + 2 :].split()


def processes_mentioning(text: str) -> list[str]:
    """The command lines of live processes that contain ``text`` (Linux ``/proc``)."""
    found = []
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline:
            found.append(cmdline)
    return found


def parent_of(pid: int) -> int | None:
    """The parent pid of a live process (None if it is gone or there is no ``/proc``)."""
    fields = proc_stat(pid)
    return int(fields[1]) if fields is not None else None


def descendants(root: int) -> list[int]:
    """Every live process below ``root`` (Linux ``/proc``; empty elsewhere)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not entry.isdigit():
            continue
        try:
            ppid = int((proc_stat(entry) or [])[1])
        except (ValueError, IndexError):
            continue
        parents.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def alive(pid: int | None) -> bool:
    """Whether ``pid`` runs (a zombie does not); always true for no pid."""
    if pid is None:
        return True
    fields = proc_stat(pid)
    if fields is None:  # no /proc here, or the process is gone
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return fields[0] not in (b"Z", b"X")


def await_written(path: Path, timeout: float, *, started: str, named: str) -> bytes:
    """``path``'s bytes once it exists (its writer renames it into place whole). Ends this process
    if the federation that started ``started`` ends first, or when no file names ``named`` within
    ``timeout`` s."""
    parent, deadline = os.getppid(), time.monotonic() + timeout
    while not path.exists():
        if os.getppid() != parent:
            raise SystemExit(f"the federation that started {started} is gone")
        if time.monotonic() > deadline:
            raise SystemExit(f"no {named} named in {path} within {timeout:.0f} s")
        time.sleep(0.05)
    return path.read_bytes()


def redirect_output(log: Path) -> None:
    """This process's output appended to ``log`` from now on, its input empty (a forked child)."""
    out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    for target in (1, 2):
        os.dup2(out, target)
    os.close(out)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)


def run_forked(target: object, *args: object) -> int:
    """Fork; the child dies with this process, runs ``target(*args)`` and exits with its code."""
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        linux_prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        target(*args)  # type: ignore[operator]
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # noqa: BLE001 - a ClientApp's failure must not reach the loop
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _launcher_text(target: str) -> str:
    """A file that is both sh and Python (the trick pip uses for long interpreter paths): sh
    re-executes it under this interpreter, Python calls the entry point ``module:attr``."""
    module, _, attr = target.partition(":")
    return (
        "#!/bin/sh\n"
        f"'''exec' {shlex.quote(sys.executable)} \"$0\" \"$@\"\n"
        "' '''\n"
        "import importlib\n"
        "import sys\n"
        f"main = importlib.import_module({module!r})\n"
        f"for part in {attr!r}.split('.'):\n"
        "    main = getattr(main, part)\n"
        "sys.exit(main())\n"
    )


def flower_bin(folder: Path) -> Path:
    """A folder of launchers that run Flower's executables under this very interpreter.

    Flower's processes start each other by name through PATH. The first ``flower-superlink`` on
    PATH may belong to another Python (a pyenv shim, the system's), whose ClientApps would import
    another copy of prism-secure, or none; launchers written from the ``flwr`` distribution's own
    console-script entry points pin every process of the federation to ``sys.executable``.
    """
    try:
        scripts = [
            e for e in metadata.distribution("flwr").entry_points if e.group == "console_scripts"
        ]
    except metadata.PackageNotFoundError:
        raise FederationError(
            "Flower is not installed: pip install 'prism-secure[flower]'"
        ) from None
    folder.mkdir(parents=True, exist_ok=True)
    for entry in scripts:
        launcher = folder / entry.name
        launcher.write_text(_launcher_text(entry.value))
        launcher.chmod(0o755)
    return folder
