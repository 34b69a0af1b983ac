"""A real `seqae ui`: an MLflow server on seqae's store that answers /health, knows the experiment
seqae logged to, prints the URL of its training view, and goes away, workers and all, on SIGTERM,
and on Linux after a kill -9 of `seqae ui` too."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from cli_store import fitted_store, free_port, start_seqae, stop, wait_for


def start_ui(tmp_path_factory):
    """`seqae ui` on a free port of the fitted store, once it answers /health: the store, the
    process, the port and its log."""
    store = fitted_store(tmp_path_factory)
    port = free_port()
    log = tmp_path_factory.mktemp("ui") / "ui.log"
    process = start_seqae(["ui", "--port", str(port)], cwd=store.root, log=log)
    try:
        wait_for(f"http://127.0.0.1:{port}/health", process, log)
    except BaseException:
        stop(process)
        raise
    return store, process, port, log


def test_ui_serves_the_store_and_stops_cleanly(tmp_path_factory):
    store, process, port, log = start_ui(tmp_path_factory)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/get-by-name"
                                    "?experiment_name=seqae", timeout=30) as answer:
            experiment = json.loads(answer.read())["experiment"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/2.0/mlflow/runs/get?run_id={store.run_id}",
                                    timeout=30) as answer:
            assert json.loads(answer.read())["run"]["info"]["run_name"] == "session-fit"
        deadline = time.monotonic() + 30
        while "MLflow UI:" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert re.search(rf"MLflow UI: http://127\.0\.0\.1:{port}/#/experiments/{experiment['experiment_id']}"
                         r"\?workflowType=machine_learning", log.read_text()), log.read_text()
    finally:
        code = stop(process)
    assert code == 128 + 15, log.read_text()
    assert _nobody_listens(port), "the MLflow server's workers outlived `seqae ui`"


def _nobody_listens(port: int, patience: float = 15.0) -> bool:
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except ConnectionRefusedError:
            return True
        time.sleep(0.2)
    return False


def _serving_on(port: int) -> list[int]:
    """The processes whose command line names `port` (`seqae ui`, the MLflow server and its uvicorn)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if entry.name.isdigit() and b"--port" in command and str(port).encode() in command:
            found.append(int(entry.name))
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the server's processes in /proc")
def test_after_kill_9_of_seqae_ui_its_mlflow_server_stops_and_frees_the_port(tmp_path_factory):
    _, process, port, log = start_ui(tmp_path_factory)
    try:
        started = [pid for pid in _serving_on(port) if pid != process.pid]
        assert len(started) == 2, started  # the MLflow server and its uvicorn
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        assert _nobody_listens(port), f"the MLflow server outlived kill -9 of `seqae ui`:\n{log.read_text()}"
    finally:
        for pid in _serving_on(port):  # what a failed test left
            os.kill(pid, signal.SIGKILL)
