"""The worker processes seqae starts: how they start, what each runs on, and how they end.

    worker_pool(n)   a ProcessPoolExecutor whose workers start the one way seqae starts processes:
                     forked from a server process that imported seqae once (forkserver), or spawned
                     where there is none (Windows); never forked from the caller, whose torch
                     OpenMP pool a child would inherit in whatever state it is in
    each worker      one torch thread and one BLAS thread (`one_thread`: `n` workers use `n`
                     cores; seqae's Spark jobs set the same in each Python worker); SIGINT
                     ignored, as the caller stops them; on Linux it dies with its parent
                     (PR_SET_PDEATHSIG)
    the forkserver   dies with the process that started it (it imports this module first)
    start_helper     one long-lived process that serves its caller over pipes (seqae's figure
                     process): started by this interpreter with the caller's import path, not
                     forked, and, on Linux, dead with the thread that started it
    on SIGTERM       (SIGINT: KeyboardInterrupt) the caller cancels what has not started, stops
                     its workers and raises `seqae.errors.Stopped`

So nothing a pool started outlives the command that started it: a SIGTERM ends the workers at once;
a SIGKILL of the caller ends the forkserver, which ends its workers, and the resource tracker
(which lives while any of them holds its pipe) goes last. The threads of the caller's own torch
work are `seqae.devices`' (`use_threads`, `compute_threads`); a worker sets them with it.
"""

from __future__ import annotations

import ctypes
import importlib
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from multiprocessing import forkserver
from typing import Callable, Iterator, Sequence

from seqae.errors import Stopped

PR_SET_PDEATHSIG = 1  # linux/prctl.h
STOP_SECONDS = 5.0  # how long a worker has to end after SIGTERM before it gets SIGKILL
_PARENT_ENV = "SEQAE_FORKSERVER_PARENT"  # set only while `worker_pool` starts the forkserver


def start_method() -> str:
    """How seqae starts every worker process: "forkserver", or "spawn" where there is none."""
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity where the platform tells it, else all)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def one_thread() -> None:
    """One torch thread and one BLAS thread in this process, and one OpenMP thread in what it starts."""
    from threadpoolctl import threadpool_limits

    from seqae import devices

    os.environ["OMP_NUM_THREADS"] = "1"
    devices.use_threads(1)
    threadpool_limits(limits=1)


def die_with_parent(parent_pid: int | None = None, sig: int = signal.SIGKILL) -> bool:
    """Ask Linux to send this process `sig` when its parent ends, however it ends, kill -9 too
    (PR_SET_PDEATHSIG); False where the platform offers no such request (then nothing changes).
    `parent_pid`: the process that started this one; if it is gone already (it died before the
    request), `sig` comes now. The parent must be the process (its thread) that started this one."""
    requested = False
    if sys.platform.startswith("linux"):
        try:
            prctl = ctypes.CDLL(None, use_errno=True).prctl
            requested = prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
        except (OSError, AttributeError):
            requested = False
    if parent_pid is not None and os.getppid() != parent_pid:  # died before the request: nothing would tell
        os.kill(os.getpid(), sig)
    return requested


def start_helper(target: str) -> subprocess.Popen | None:
    """Start a helper process that calls `target` ("module:function", no argument) with its stdin
    and stdout piped to the caller (its stderr discarded); None where it cannot be started (no
    interpreter to start, as in an embedded Python). It runs this interpreter with the caller's
    import path and asks, before importing anything of its own, to die with the thread that
    started it (`die_with_parent`)."""
    if not sys.executable:
        return None
    bootstrap = ("import json, sys; sys.path[:] = json.loads(sys.argv[1]); "
                 "from seqae.workers import run_helper; run_helper(int(sys.argv[2]), sys.argv[3])")
    try:
        return subprocess.Popen([sys.executable, "-c", bootstrap, json.dumps(sys.path), str(os.getpid()), target],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    except OSError:
        return None


def run_helper(parent: int, target: str) -> None:
    """A helper process's first act (`start_helper`): bound to `parent`'s life, then `target`."""
    die_with_parent(parent)
    module, _, function = target.partition(":")
    getattr(importlib.import_module(module), function)()


@contextmanager
def worker_pool(n_workers: int, *, preload: Sequence[str] = (),
                setup: Callable[[], None] | None = None) -> Iterator[ProcessPoolExecutor]:
    """A pool of `n_workers` processes for the `with` block, set up as the module says.

    `preload`: modules the forkserver imports once for every worker it starts (the modules of the
    functions the pool runs), when this call starts it. `setup`: a module-level function each
    worker runs after its one-thread setup (a warm-up, say). The block ends with the pool shut down;
    an exception out of it (a job's error, Ctrl-C, SIGTERM) cancels the jobs that have not started
    and stops the workers before it goes on, so the error shows at once."""
    if n_workers < 1:
        raise ValueError(f"a pool needs at least one worker, got {n_workers}")
    before = set(multiprocessing.active_children())
    pool = ProcessPoolExecutor(n_workers, mp_context=_context(preload), initializer=_start_worker,
                               initargs=(os.getpid(), setup))
    try:
        with _stop_on_sigterm(n_workers):
            yield pool
    except BaseException:
        _stop(pool, [p for p in multiprocessing.active_children() if p not in before])
        raise
    pool.shutdown(wait=True)


def _context(preload: Sequence[str]):
    if start_method() == "spawn":
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__, *preload])
    os.environ[_PARENT_ENV] = str(os.getpid())
    try:
        forkserver.ensure_running()  # started now, if not running yet: it reads _PARENT_ENV
    finally:
        os.environ.pop(_PARENT_ENV, None)
    return context


def _start_worker(owner: int, setup: Callable[[], None] | None) -> None:
    """A worker's first act: bound to its parent's life (and gone if the pool's owner is already),
    deaf to Ctrl-C (the owner stops it), one thread, then `setup`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if die_with_parent() and not _is_alive(owner):
        os._exit(1)
    one_thread()
    if setup is not None:
        setup()


@contextmanager
def _stop_on_sigterm(n_workers: int):
    """SIGTERM raises `Stopped` in the main thread inside the block (elsewhere signals cannot be set)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise Stopped(f"stopped by {signal.Signals(signum).name}; the {n_workers} worker process"
                      f"{'es' if n_workers > 1 else ''} it started are stopped too", signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def _stop(pool: ProcessPoolExecutor, workers: list) -> None:
    pool.shutdown(wait=False, cancel_futures=True)
    for worker in workers:
        worker.terminate()
    for worker in workers:
        worker.join(STOP_SECONDS)
        if worker.is_alive():
            worker.kill()
            worker.join()


def _is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _bind_forkserver_to_its_parent() -> None:
    """In a forkserver that `worker_pool` started (this module is its first preload): die with the
    process that started it, whose workers it forks; at once if that process is gone already."""
    parent = os.environ.pop(_PARENT_ENV, None)
    if parent is not None and die_with_parent() and os.getppid() != int(parent):
        os._exit(1)


_bind_forkserver_to_its_parent()
