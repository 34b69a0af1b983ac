"""seqae's worker processes (seqae.workers), started for real: one start method, one torch thread each
whatever the caller's environment says, and an error in the caller stops them at once."""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures.process import BrokenProcessPool

import pytest

from seqae import workers


def what_a_worker_runs_on() -> dict:
    import torch

    from seqae import devices

    return {"torch_threads": torch.get_num_threads(), "seqae_threads": devices.threads_wanted(),
            "omp": os.environ.get("OMP_NUM_THREADS"), "method": multiprocessing.get_start_method(allow_none=True)}


def sleep_long() -> None:
    time.sleep(600)


def test_every_worker_runs_one_thread_whatever_the_environment_says(monkeypatch):
    monkeypatch.setenv("SEQAE_THREADS", "3")  # the caller's own setting: not the workers'
    with workers.worker_pool(2) as pool:
        answers = [future.result(timeout=120) for future in [pool.submit(what_a_worker_runs_on) for _ in range(4)]]
    assert answers == [{"torch_threads": 1, "seqae_threads": 1, "omp": "1", "method": workers.start_method()}] * 4


def test_an_error_in_the_block_stops_the_workers_at_once():
    before = set(multiprocessing.active_children())
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="the caller failed"):
        with workers.worker_pool(2) as pool:
            futures = [pool.submit(sleep_long) for _ in range(3)]
            deadline = time.monotonic() + 120
            while sum(f.running() for f in futures) < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
            pool_workers = [p for p in multiprocessing.active_children() if p not in before]
            assert len(pool_workers) == 2 and all(p.is_alive() for p in pool_workers)
            raise RuntimeError("the caller failed")
    assert time.monotonic() - started < 120  # not the 600 s the jobs would take
    assert not any(p.is_alive() for p in pool_workers)
    # never run: cancelled, or (queued to a worker ahead of time, as ProcessPoolExecutor queues one job more
    # than it has workers) failed with the stopped pool
    assert futures[2].cancelled() or isinstance(futures[2].exception(timeout=10), BrokenProcessPool)


def test_a_pool_needs_a_worker():
    with pytest.raises(ValueError, match="at least one worker"):
        with workers.worker_pool(0):
            pass
