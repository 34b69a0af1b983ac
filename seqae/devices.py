"""Where seqae's tensors are computed: the device (CPU or a CUDA GPU) and the number of CPU threads.

    device "auto"  a CUDA GPU when torch sees one, else the CPU
           "cpu"   the CPU, with `compute_threads()` threads
           "cuda"  the first CUDA GPU ("cuda:1" etc. for another); refused where torch sees none

On the CPU, seqae's networks run on one thread unless `SEQAE_THREADS` or `use_threads` (`seqae
--threads`) says otherwise; each worker process of `seqae.workers` runs on one. seqae's LSTMs are
small, and with the passive OpenMP waiting that `import seqae` sets, two threads are slower than
one, alone or beside a busy process (benchmarks/README.md, the thread table). A fit from Python
therefore takes the one-thread time, whatever torch's own default (one thread per core) is; the
caller's setting is restored after.
Scores do not depend on the thread count (networks score padded batches, `windows.pad_batch`).
"""

from __future__ import annotations

import functools
import os
from contextlib import contextmanager

import torch

from seqae.errors import ConfigError

DEVICES = ("auto", "cpu", "cuda")
THREADS_ENV = "SEQAE_THREADS"
DEFAULT_THREADS = 1


def is_device(device) -> bool:
    """Whether `device` names a device seqae knows: auto, cpu, cuda or cuda:N."""
    return isinstance(device, str) and (device in DEVICES or _is_cuda_index(device))


def check_device(device: str) -> None:
    """A one-line `ConfigError` unless `is_device(device)`."""
    if not is_device(device):
        raise ConfigError(f"device must be one of {', '.join(DEVICES)} (or cuda:N), got {device!r}")


def resolve_device(device: str = "auto") -> torch.device:
    """The torch device for `device`; "cuda" where torch sees no CUDA GPU is a `ConfigError`."""
    check_device(device)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        build = f"torch {torch.__version__}" + ("" if torch.version.cuda else ", built without CUDA")
        raise ConfigError(f"device {device!r}: torch sees no CUDA GPU here ({build}); use --device cpu or auto")
    index = torch.device(device).index or 0
    if index >= torch.cuda.device_count():
        raise ConfigError(f"device {device!r}: torch sees {torch.cuda.device_count()} CUDA GPU(s) "
                          f"(cuda:0 to cuda:{torch.cuda.device_count() - 1}); choose one of those")
    return torch.device(device)


_threads: int | None = None  # set_threads()


def set_threads(threads: int | None) -> None:
    """CPU threads for seqae's torch work in this process from now on (`seqae --threads`); None goes
    back to `SEQAE_THREADS` or 1."""
    global _threads
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ConfigError(f"threads must be a whole number >= 1, got {threads!r}")
    _threads = threads


def use_threads(threads: int | None = None) -> None:
    """This process's torch work runs on `threads` CPU threads from now on (default
    `threads_wanted()`): torch's own count and the one seqae's fits and scoring use. `seqae
    --threads` sets it for a command, each worker process of `seqae.workers` sets 1."""
    threads = threads_wanted() if threads is None else threads
    set_threads(threads)
    torch.set_num_threads(threads)


def threads_wanted() -> int:
    """CPU threads for seqae's torch work: what `set_threads` set, else `SEQAE_THREADS` when set (a
    whole number >= 1), else 1."""
    if _threads is not None:
        return _threads
    text = os.environ.get(THREADS_ENV, "").strip()
    if not text:
        return DEFAULT_THREADS
    try:
        threads = int(text)
    except ValueError:
        threads = 0
    if threads < 1:
        raise ConfigError(f"{THREADS_ENV}={text!r}: expected a whole number of threads >= 1")
    return threads


@contextmanager
def compute_threads(threads: int | None = None):
    """torch runs on `threads` CPU threads (default `threads_wanted()`) inside the block; the
    caller's count is restored after it. Nested blocks cost nothing (~1 us a switch)."""
    threads = threads_wanted() if threads is None else threads
    before = torch.get_num_threads()
    if before == threads:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _is_cuda_index(device: str) -> bool:
    name, colon, index = device.partition(":")
    return name == "cuda" and colon == ":" and index.isdigit()


def on_compute_threads(method):
    """Decorates a detector's public method: its torch work runs inside `compute_threads()`."""

    @functools.wraps(method)
    def on_threads(*args, **kwargs):
        with compute_threads():
            return method(*args, **kwargs)

    return on_threads
