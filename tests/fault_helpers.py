"""What the fault tests share: `seqae` as a real process on a store of its own, waiting for a moment
to interrupt it, and a small file system that fills up (a tmpfs, where this machine lets a test
mount one).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]


def seqae_env(**extra: str) -> dict[str, str]:
    """The environment of a `seqae` process: this checkout first on the path, the default store
    (./mlruns of its working directory) unless `extra` names MLFLOW_TRACKING_URI."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    env.update(extra)
    return env


def start(args: list[str], cwd: Path, **env: str) -> subprocess.Popen:
    """`python -m seqae ARGS` in `cwd`, its output captured (text)."""
    return subprocess.Popen([sys.executable, "-m", "seqae", *map(str, args)], cwd=cwd, env=seqae_env(**env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


READY_THEN_GO = """
import os, sys, time
import mlflow.store.tracking.sqlalchemy_store, seqae.cli, seqae.tracking.store  # the imports come first
go = sys.argv[1]
open(go + "." + str(os.getpid()), "w").close()
while not os.path.exists(go):
    time.sleep(0.002)
sys.argv = ["seqae", *sys.argv[2:]]
seqae.cli.main()
"""


def start_together(commands: list[list[str]], cwd: Path) -> list[subprocess.Popen]:
    """Each of `commands` (seqae's arguments) in a process of its own, started at the same moment:
    each imports what it needs first, then all wait for one signal (a file) to go."""
    go = cwd.parent / f"{cwd.name}.go"
    processes = [subprocess.Popen([sys.executable, "-c", READY_THEN_GO, str(go), *map(str, args)], cwd=cwd,
                                  env=seqae_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for args in commands]
    for process in processes:
        wait_until(lambda: Path(f"{go}.{process.pid}").exists(), process)
    go.touch()
    return processes


def seqae(args: list[str], cwd: Path, timeout: float = 600, **env: str) -> subprocess.CompletedProcess:
    """`python -m seqae ARGS` in `cwd`, run to its end."""
    return subprocess.run([sys.executable, "-m", "seqae", *map(str, args)], cwd=cwd, env=seqae_env(**env),
                          capture_output=True, text=True, timeout=timeout)


def wait_until(condition: Callable[[], bool], process: subprocess.Popen | None = None, timeout: float = 300.0,
               every: float = 0.02) -> None:
    """Poll `condition` until it holds; fail if `process` ends first or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if process is not None and process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"the process ended ({process.returncode}) before the moment came:\n{out}\n{err}")
        time.sleep(every)
    raise AssertionError(f"the moment did not come within {timeout} s")


def one_error_line(stderr: str) -> str:
    """The one `Error: ...` line of a failed command's stderr, with no traceback beside it."""
    assert "Traceback" not in stderr, stderr[-3000:]
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1, stderr[-3000:]
    return errors[0]


def parts(folder: Path) -> list[str]:
    """The temporary files and folders (`.NAME-....part`) under `folder`."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*.part"))


def write_sensors(path: Path, n_rows: int, seed: int = 0) -> Path:
    """`n_rows` rows of three normal sensors (a, b, c), indexed by `row`."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n_rows, 3)), columns=["a", "b", "c"],
                         index=pd.RangeIndex(n_rows, name="row"))
    frame.to_csv(path)
    return path


@contextlib.contextmanager
def small_disk(path: Path, size_kb: int) -> Iterator[Path]:
    """A tmpfs of `size_kb` KiB mounted at `path` for the block; the test is skipped, with the
    reason, where this machine does not let it mount one (not root, or no CAP_SYS_ADMIN)."""
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("a full disk needs a tmpfs, and mounting one needs root")
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


def fill(disk: Path, leave_kb: int) -> None:
    """Fill `disk` up to `leave_kb` KiB of free space with a file of zeros."""
    free = shutil.disk_usage(disk).free
    with open(disk / "filler", "ab") as filler:
        filler.write(b"\0" * max(0, free - leave_kb * 1024))
