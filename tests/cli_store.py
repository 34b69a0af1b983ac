"""One MLflow store and one fitted model for the CLI, tracking, serving and UI tests.

`fitted_store(tmp_path_factory)` writes a small labelled series (two CSVs), runs `seqae fit` on the
first once per test session, in a temporary directory whose `./mlruns/` is the store, and returns
where everything is. The test modules that need it call it from their own fixture; the fit runs
once whichever module asks first. Tests that touch the store `chdir` into `root` and unset
`MLFLOW_TRACKING_URI` (the `in_store` fixture of each module).
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from seqae.cli import cli
from seqae.synthetic import make_sensor_data

N_TRAIN, N_TEST, N_SENSORS = 400, 300, 3
SENSORS = [f"sensor_{j}" for j in range(N_SENSORS)]
# Tiny and seeded: fits in a second or two on one core.
FIT_ARGS = ["--model", "lstm-ae", "--window-size", "16", "--hidden-size", "16", "--latent-dim", "8", "--epochs", "3",
            "--learning-rate", "0.01", "--seed", "0"]
REGISTERED = "seqae-test"


@dataclass(frozen=True)
class FittedStore:
    root: Path  # cwd for the store: ./mlruns lives here
    train_csv: Path  # normal rows, with an all-zero `anomaly` column
    test_csv: Path  # a spike and a level shift, labelled in `anomaly`
    run_id: str
    model_uri: str  # models:/m-...
    registered_uri: str  # models:/seqae-test@champion
    fit_output: str


_fitted: FittedStore | None = None


def write_csvs(directory: Path) -> tuple[Path, Path]:
    frame, labels, _ = make_sensor_data(N_TRAIN + N_TEST, N_SENSORS, normal_rows=N_TRAIN,
                                        anomalies=("spike", "level_shift"), anomaly_length=30,
                                        random_state=2)
    table = frame.assign(anomaly=labels)
    train_csv, test_csv = directory / "train.csv", directory / "test.csv"
    table.iloc[:N_TRAIN].to_csv(train_csv, index_label="timestamp")
    table.iloc[N_TRAIN:].to_csv(test_csv, index_label="timestamp")
    return train_csv, test_csv


def fitted_store(tmp_path_factory) -> FittedStore:
    global _fitted
    if _fitted is None:
        root = tmp_path_factory.mktemp("seqae-store")
        train_csv, test_csv = write_csvs(root)
        with chdir(root):
            result = CliRunner(env={"MLFLOW_TRACKING_URI": None}).invoke(
                cli, ["fit", str(train_csv), "--label-column", "anomaly", *FIT_ARGS,
                      "--run-name", "session-fit", "--register", REGISTERED, "--alias", "champion"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        run_id = re.search(r"^run:\s+([0-9a-f]{32})", result.stdout, re.M).group(1)
        model_uri = re.search(r"^model:\s+(models:/m-[0-9a-f]+)", result.stdout, re.M).group(1)
        _fitted = FittedStore(root, train_csv, test_csv, run_id, model_uri,
                              f"models:/{REGISTERED}@champion", result.stdout)
    return _fitted


def in_fitted_store(tmp_path_factory, monkeypatch) -> FittedStore:
    """The session's fitted store, with the test run in its directory on its ./mlruns (no
    MLFLOW_TRACKING_URI): what an `in_store` fixture gives a test."""
    store = fitted_store(tmp_path_factory)
    monkeypatch.chdir(store.root)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return store


def run(*args):
    """`seqae ARGS...` through click's runner, in this process."""
    return CliRunner().invoke(cli, [str(a) for a in args])


def error_line(result) -> str:
    """The one `Error: ...` line of a failed command; nothing that looks like a traceback."""
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit), result.exception
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    return errors[0]


def enter_store(folder, monkeypatch) -> None:
    """The test runs in `folder` on its ./mlruns (no MLFLOW_TRACKING_URI), the store in use."""
    from seqae import tracking

    monkeypatch.chdir(folder)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    tracking.use_store()


@contextlib.contextmanager
def chdir(path):
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_seqae(args: list[str], cwd: Path, log: Path) -> subprocess.Popen:
    """`python -m seqae ARGS` in `cwd`, stdout and stderr to `log`, on seqae's default store there."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    with open(log, "wb") as out:
        return subprocess.Popen([sys.executable, "-m", "seqae", *args], cwd=cwd, env=env,
                                stdout=out, stderr=subprocess.STDOUT)


def wait_for(url: str, process: subprocess.Popen, log: Path, timeout: float = 120.0) -> None:
    """Poll `url` until it answers 200; fail with the process's log if it exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"exited with {process.returncode} before answering:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    raise AssertionError(f"{url} did not answer within {timeout} s:\n{log.read_text()}")


def stop(process: subprocess.Popen, timeout: float = 30.0) -> int:
    process.terminate()
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise
