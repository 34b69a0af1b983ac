"""Which process this is, whether a process recorded earlier still runs, and SIGTERM as a clean exit.

A run's tags and a temporary file's name record the process that writes them (`this_process`: pid,
host, start time), so that a later command can tell a run or a file whose writer died (`kill -9`,
a power cut) from one that is still being written (`is_running`). A pid alone is not enough: the
kernel hands out pids again, so a pid that runs now is the recorded process only if it started when
the recorded one did.

`sigterm_exits` turns SIGTERM into `Terminated`, an exit that unwinds the stack, so that what a
command cleans up on Ctrl-C (temporary files, an MLflow run ended as KILLED) it cleans up on
`kill` too. Python drops an exception raised while the garbage collector runs an object's
`__del__`, so a SIGTERM landing there is also recorded, and `exit_if_stopped` raises it again at the
next place that asks (each training epoch, the end of a tracked run). A SIGTERM landing while the
MLflow store is being read or written (SQLAlchemy, sqlite3 or MLflow's store on the stack) is raised
as soon as that call has returned (`STORE_CODE`): an exit raised inside it could leave the store's
SQLite transaction open in this process, and the run could then never be ended KILLED (the clean-up's
UPDATE waits on that transaction's lock).
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

START_TOLERANCE_S = 2.0  # the boot time /proc reports moves with clock adjustments
# code a SIGTERM does not interrupt (a folder of its file's path), and how often it looks whether
# the main thread has left it
STORE_CODE = tuple(os.sep + os.path.join(*parts) + os.sep for parts in (("sqlalchemy",), ("sqlite3",),
                                                                        ("mlflow", "store")))
RECHECK_S = 0.02


@dataclass(frozen=True)
class ProcessId:
    pid: int
    host: str
    started: float | None  # seconds since the epoch; None where the system does not say


def started_at(pid: int) -> float | None:
    """When process `pid` started, in seconds since the epoch (Linux's /proc); None where unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat_file:
            stat = stat_file.read()
        with open("/proc/stat", "rb") as system_file:
            boot = next(int(line.split()[1]) for line in system_file if line.startswith(b"btime "))
    except (OSError, StopIteration, ValueError):
        return None
    # The command name (field 2) may hold spaces and parentheses: the fields after it follow the last ')'.
    ticks = int(stat[stat.rfind(b")") + 2:].split()[19])  # field 22: start time, clock ticks after boot
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def this_process() -> ProcessId:
    return ProcessId(os.getpid(), socket.gethostname(), started_at(os.getpid()))


def is_running(pid: int, host: str, started: float | None = None) -> bool | None:
    """Whether the process recorded as (`pid`, `host`, `started`) still runs: False when `pid` has
    ended or now belongs to a process that started at another time; None when this machine cannot
    tell (the process ran on another host)."""
    if host != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        pass
    if started is not None:
        now = started_at(pid)
        if now is not None and abs(now - started) > START_TOLERANCE_S:
            return False
    return True


class Terminated(SystemExit):
    """SIGTERM, raised where the process was, so that `finally` blocks and context managers run."""


_stopped_by: int | None = None  # the signal `sigterm_exits` received, until its block ends


def exit_if_stopped() -> None:
    """Raise `Terminated` when a SIGTERM arrived and its exception was lost (Python ignores one raised
    inside a `__del__` that the garbage collector ran)."""
    if _stopped_by is not None:
        raise Terminated(128 + _stopped_by)


@contextmanager
def sigterm_exits() -> Iterator[None]:
    """While the block runs, SIGTERM raises `Terminated` (exit status 143, 128 + SIGTERM's number) in
    the main thread, or once the main thread has left the store's code if it landed there
    (`in_store`); a second SIGTERM during the clean-up ends the process at once. Elsewhere than in
    the main thread (where Python cannot set signal handlers) the block runs unchanged."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum, frame):
        global _stopped_by
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _stopped_by = signum
        raise_out_of_store(frame)

    def raise_out_of_store(frame):
        if _stopped_by is None:  # the block has ended meanwhile
            return
        if can_defer and in_store(frame):  # look again in a moment
            if not deferred:
                deferred.append(signal.signal(signal.SIGALRM, lambda _signum, later: raise_out_of_store(later)))
            signal.setitimer(signal.ITIMER_REAL, RECHECK_S)
            return
        raise Terminated(128 + _stopped_by)

    def drop_quietly(unraisable):  # the Terminated Python dropped is raised again, not a bug to show
        if not isinstance(unraisable.exc_value, Terminated):
            unraisable_hook(unraisable)

    global _stopped_by
    can_defer = hasattr(signal, "setitimer")  # not on Windows: raised where it lands
    deferred = []  # once a stop was deferred: the SIGALRM handler it replaced
    previous, unraisable_hook = signal.signal(signal.SIGTERM, terminate), sys.unraisablehook
    sys.unraisablehook = drop_quietly
    try:
        yield
    finally:
        if deferred:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, deferred[0])
        signal.signal(signal.SIGTERM, previous)
        sys.unraisablehook = unraisable_hook
        _stopped_by = None


def in_store(frame) -> bool:
    """Whether `frame` or a frame that called it runs the MLflow store's code (`STORE_CODE`)."""
    while frame is not None:
        if any(part in frame.f_code.co_filename for part in STORE_CODE):
            return True
        frame = frame.f_back
    return False
