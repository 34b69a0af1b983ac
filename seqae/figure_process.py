"""Figures drawn in a process of their own while the command that wants them goes on.

A fit run's two default figures (the loss curves, the scores over time) cost `seqae fit` most of a
second of the user's wait: importing matplotlib, then rendering two PNGs, with nothing else done
meanwhile (benchmarks/README.md, "The command line"). Where this process may run on a second
core, `warm_up` starts a Python process that imports `seqae.plots` at once, while the command
opens its run and fits on the first core (one torch thread); `drawing` hands it the figures once the
fit is done and the command logs its model meanwhile; the PNG files are there when it is.

One figure process serves every request of the process that started it, one at a time (a pickle
each way over its stdin and stdout), and ends with it: at this process's exit, at the end of its
stdin, or, on Linux, when the thread that started it ends, kill -9 included (PR_SET_PDEATHSIG).
Where there is one core, no figure process was started, or it has died or failed on a request,
the figures are drawn in this process at the end of the `drawing` block: the same files either way.
"""

from __future__ import annotations

import atexit
import os
import pickle
import subprocess
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

from seqae.workers import available_cpus, start_helper

FIGURES = ("loss_curves", "score_timeline", "contribution_heatmap", "latent_scatter")  # seqae.plots' figures

_lock = threading.Lock()  # one request at a time, and one process started
_process: subprocess.Popen | None = None


@dataclass(frozen=True)
class FigureSpec:
    """One figure: `seqae.plots.<function>(*args, **kwargs)` saved as the PNG file `name`."""

    function: str
    name: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.function not in FIGURES:
            raise ValueError(f"a figure is one of {', '.join(FIGURES)}, not {self.function!r}")
        if Path(self.name).name != self.name or not self.name.endswith(".png"):
            raise ValueError(f"a figure's name is a file name ending in .png, not {self.name!r}")


@dataclass
class Drawn:
    """What a `drawing` block drew: the PNG files, in the order asked (set when the block ends), and
    where (True: in the figure process; False: in this process)."""

    paths: list[Path] = field(default_factory=list)
    aside: bool = False


def draw(specs: Sequence[FigureSpec], folder: str | os.PathLike) -> list[Path]:
    """Draw `specs` in this process as PNG files in `folder`; their paths, in order."""
    from seqae import plots

    paths = []
    for spec in specs:
        figure = getattr(plots, spec.function)(*spec.args, **spec.kwargs)
        path = Path(folder) / spec.name
        figure.savefig(path)
        paths.append(path)
    return paths


def warm_up() -> bool:
    """Start the figure process now, unless one runs or this process may use only one CPU; whether
    one runs. It imports matplotlib while the caller goes on."""
    with _lock:
        return _running() is not None


@contextmanager
def drawing(specs: Sequence[FigureSpec], folder: str | os.PathLike) -> Iterator[Drawn]:
    """Draw `specs` into `folder` while the block runs: in the figure process where `warm_up` started
    one, in this process when the block ends otherwise. The block's result has the files once it
    has ended; an exception out of the block stops the figure process (the next `warm_up` starts
    another) and draws nothing. One block at a time: another thread's waits for it, and a block
    inside a block would wait for itself."""
    specs = list(specs)
    drawn = Drawn()
    if not specs:
        yield drawn
        return
    with _lock:
        process = _process if _process is not None and _process.poll() is None else None
        sent = process is not None and _send(process, (specs, str(folder)))
        try:
            yield drawn
        except BaseException:
            if sent:
                _stop(process)
            raise
        answer = _receive(process) if sent else None
    drawn.aside = answer is not None
    drawn.paths = answer if answer is not None else draw(specs, folder)


def _running() -> subprocess.Popen | None:
    global _process
    if _process is not None and _process.poll() is None:
        return _process
    _process = None
    if available_cpus() < 2:
        return None
    _process = start_helper(f"{__name__}:serve")
    return _process


def _send(process: subprocess.Popen, request) -> bool:
    try:
        pickle.dump(request, process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
        process.stdin.flush()
    except (OSError, ValueError):  # it has died (a broken pipe), or its pipe is closed
        _stop(process)
        return False
    return True


def _receive(process: subprocess.Popen) -> list[Path] | None:
    """The paths the figure process drew; None when it failed on the request or died."""
    try:
        status, paths = pickle.load(process.stdout)
    except (EOFError, OSError, pickle.UnpicklingError, ValueError):
        _stop(process)
        return None
    return [Path(p) for p in paths] if status == "ok" else None


def _stop(process: subprocess.Popen) -> None:
    global _process
    process.kill()
    process.wait()
    for pipe in (process.stdin, process.stdout):
        try:
            pipe.close()
        except OSError:
            pass
    if _process is process:
        _process = None


@atexit.register
def _end() -> None:
    """At this process's exit, the figure process ends at once: every figure asked of it was
    answered when its `drawing` block ended, and one still importing matplotlib (a command that
    failed early) is not waited for."""
    if _process is not None:
        _stop(_process)


def serve() -> None:
    """The figure process (`seqae.workers.start_helper` runs it): it imports the figures, then draws
    each request read from stdin and answers on stdout ("ok", paths) or ("error", why) until stdin
    ends; then the process ends at once (nothing is left to write: its interpreter's clean-up would
    only keep the parent's exit waiting)."""
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # a stray print cannot corrupt the answers
    import seqae.plots  # noqa: F401  (matplotlib loads now, while the parent works)

    requests = sys.stdin.buffer
    while True:
        try:
            specs, folder = pickle.load(requests)
        except EOFError:
            answers.close()
            os._exit(0)
        try:
            answer = ("ok", [str(path) for path in draw(specs, folder)])
        except Exception as exc:  # the caller draws them itself and sees the error there
            answer = ("error", f"{type(exc).__name__}: {exc}")
        pickle.dump(answer, answers, protocol=pickle.HIGHEST_PROTOCOL)
        answers.flush()
