"""No process of a fleet fit outlives the command: `seqae fit FLEET.csv --asset-column machine --jobs 2`,
stopped by SIGTERM or SIGKILL while its two workers fit, leaves no forkserver, worker or resource
tracker behind. Every process the command started is found in /proc by a mark in its environment
(inherited by everything it starts, whoever its parent is after the command died) and by its
parent chain, read while the command still runs. A fleet score stopped the same ways leaves no
scratch files in the temporary folder once the next one has run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from seqae.synthetic import make_fleet_data

if not sys.platform.startswith("linux") or not Path("/proc/self/environ").exists():
    pytest.skip("needs Linux's /proc (to find the command's processes) and prctl (PR_SET_PDEATHSIG)",
                allow_module_level=True)

MARK = "SEQAE_TEST_FLEET_COMMAND"
# Two workers on an LSTM-AE fit of 1,000 epochs without early stopping (neither on a plateau nor on a
# risen validation loss): still fitting when stopped.
FIT = ["fit", "fleet.csv", "--asset-column", "machine", "--jobs", "2", "--model", "lstm-ae", "--window-size", "16",
       "--epochs", "1000", "-p", "patience=0", "-p", "rise_patience=0"]
GONE_WITHIN = 10.0  # seconds


@pytest.fixture
def fleet_dir(tmp_path):
    frame, _ = make_fleet_data(3, 3000, 3, random_state=0)
    frame.to_csv(tmp_path / "fleet.csv", index_label="timestamp")
    return tmp_path


def processes() -> dict[int, tuple[int, str, bytes]]:
    """pid -> (parent pid, command line, environment) of every live process this user may read (no zombies)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            environ = (entry / "environ").read_bytes()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if state not in ("Z", "X"):
            found[int(entry.name)] = (int(ppid), cmdline, environ)
    return found


def marked(mark: str, table: dict) -> set[int]:
    """The processes of `table` whose environment carries the command's mark."""
    return {pid for pid, (_, _, environ) in table.items() if f"{MARK}={mark}".encode() in environ.split(b"\0")}


def descendants(pid: int, table: dict) -> set[int]:
    """`pid` and the processes of `table` whose parent chain leads to it."""
    found, grew = {pid}, True
    while grew:
        more = {p for p, (ppid, _, _) in table.items() if ppid in found} - found
        found |= more
        grew = bool(more)
    return found & set(table)


def start_fit(folder: Path) -> tuple[subprocess.Popen, str]:
    """The fit in `folder`, its output to files there (a pipe would stay open while any child lives)."""
    mark = uuid.uuid4().hex
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env[MARK] = mark
    with open(folder / "out.txt", "wb") as out, open(folder / "err.txt", "wb") as err:
        process = subprocess.Popen([sys.executable, "-m", "seqae", *FIT], cwd=folder, env=env, stdout=out, stderr=err)
    return process, mark


def wait_for_workers(process: subprocess.Popen, mark: str, timeout: float = 180.0) -> dict[int, str]:
    """The command's processes once its forkserver and both workers run (then the fits are on)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the fit ended ({process.returncode}) before its workers ran")
        table = processes()
        if sum("multiprocessing.forkserver" in table[p][1] for p in marked(mark, table)) >= 3:
            time.sleep(2)  # into their fits
            table = processes()
            return {p: table[p][1] for p in marked(mark, table) | descendants(process.pid, table)}
        time.sleep(0.5)
    raise AssertionError(f"no forkserver with two workers within {timeout} s")


def survivors(mark: str, started: dict[int, str]) -> dict[int, str]:
    """The command's processes still alive, by mark or by pid (what ran before the stop), waiting up to GONE_WITHIN."""
    deadline = time.monotonic() + GONE_WITHIN
    while True:
        table = processes()
        alive = {p: table[p][1] for p in marked(mark, table)}
        alive.update({p: table[p][1] for p in started if p in table and table[p][1] == started[p]})
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.2)


def kill_all(pids) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_stopped_fleet_fit_leaves_no_process_behind(fleet_dir, stop):
    process, mark = start_fit(fleet_dir)
    started = {}
    try:
        started = wait_for_workers(process, mark)
        kinds = [cmdline for pid, cmdline in started.items() if pid != process.pid]
        assert sum("multiprocessing.forkserver" in c for c in kinds) == 3  # the forkserver and 2 workers
        assert sum("multiprocessing.resource_tracker" in c for c in kinds) == 1
        process.send_signal(stop)
        process.wait(timeout=60)
        left = survivors(mark, started)
        assert not left, f"still running after {stop.name} of the fit: {left}"
    finally:
        kill_all([process.pid, *started])
        process.wait()
    err = (fleet_dir / "err.txt").read_text()
    if stop == signal.SIGTERM:
        assert process.returncode == 128 + signal.SIGTERM, err
        assert err.strip().splitlines() == ["Error: stopped by SIGTERM; the 2 worker processes it started are "
                                            "stopped too"], err
        client = MlflowClient(f"sqlite:///{fleet_dir / 'mlruns' / 'mlflow.db'}")
        runs = client.search_runs([client.get_experiment_by_name("seqae").experiment_id])
        assert [run.info.status for run in runs] == ["FAILED"]  # the parent run; no child was logged
    else:
        assert process.returncode == -signal.SIGKILL


# ---- a fleet score's scratch files ---------------------------------------------------------------

@pytest.fixture(scope="module")
def fleet_scoring(tmp_path_factory):
    """A saved PCA fleet of 3 machines and a fleet export long enough that splitting it by machine
    takes a few seconds."""
    from seqae.fleet import FitSpec, FleetDetector

    root = tmp_path_factory.mktemp("fleet-scoring")
    frame, _ = make_fleet_data(3, 100_000, 3, random_state=1)
    frame.to_csv(root / "big.csv", index_label="timestamp")
    frame.iloc[:600].to_csv(root / "small.csv", index_label="timestamp")
    FleetDetector(FitSpec("pca", {"window_size": 4}), asset_column="machine").fit(frame.iloc[:3000]).save(root / "fleet")
    return root


def score_fleet(root: Path, data: str, folder: Path, scratch: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["TMPDIR"] = str(scratch)
    return subprocess.Popen([sys.executable, "-m", "seqae", "score", str(root / "fleet"), str(root / data), "-o",
                             str(folder / f"{data}.scores.csv")], cwd=folder, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_stopped_fleet_score_leaves_no_scratch_files_after_the_next_one(fleet_scoring, tmp_path, stop):
    """The machines' rows copied to $TMPDIR while a fleet score runs: a SIGTERM removes them; what a
    kill -9 left, the next fleet score removes (before: `$TMPDIR/seqae-fleet-*`, as large as the
    input, for good)."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    process = score_fleet(fleet_scoring, "big.csv", tmp_path, scratch)
    deadline = time.monotonic() + 300
    while not any(p.stat().st_size > 0 for p in scratch.rglob("*.csv")):
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.05)
    process.send_signal(stop)
    _, err = process.communicate(timeout=120)
    if stop == signal.SIGTERM:
        assert process.returncode == 128 + signal.SIGTERM and "Traceback" not in err, err
        assert list(scratch.iterdir()) == []
        assert [p.name for p in tmp_path.iterdir()] == ["tmp"]  # no scores, no part file, no store
    else:
        left = [p.name for p in scratch.iterdir()]
        assert len(left) == 1 and left[0].startswith(f".seqae-fleet-{process.pid}-"), left
    after = score_fleet(fleet_scoring, "small.csv", tmp_path, scratch)
    out, err = after.communicate(timeout=300)
    assert after.returncode == 0, err
    assert out.startswith("Scored 600 rows of 3 machines")
    assert list(scratch.iterdir()) == []
