"""`seqae serve models:/NAME@ALIAS` follows its alias: a real server subprocess on a real MLflow store
(./mlruns), requests sent without pause while `seqae fit --register --alias` moves the alias."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pandas as pd

from cli_store import chdir, free_port, run, start_seqae, wait_for

N_TRAIN = 300


def _frame(n: int, first: int, seed: int) -> pd.DataFrame:
    t = np.arange(first, first + n)
    rng = np.random.default_rng(seed)
    values = np.column_stack([np.sin(2 * np.pi * t / 50), np.cos(2 * np.pi * t / 50)]) + 0.02 * rng.normal(size=(n, 2))
    times = pd.date_range("2026-03-02", periods=n + first, freq="s")[first:]
    return pd.DataFrame(values, columns=["a", "b"], index=pd.Index(times, name="timestamp"))


def test_a_served_alias_swaps_to_the_new_version_between_requests_none_failing(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    _frame(N_TRAIN, 0, 0).to_csv(tmp_path / "train.csv")
    fit = ["fit", "train.csv", "--model", "knn-window", "--window-size", "10", "--register", "m", "--alias",
           "champion", "-q"]
    with chdir(tmp_path):
        result = run(*fit)
        assert result.exit_code == 0, result.output
    port, log = free_port(), tmp_path / "serve.log"
    process = start_seqae(["serve", "models:/m@champion", "--port", str(port), "--check-every", "1"], tmp_path, log)
    rows = _frame(40, N_TRAIN, 1)
    body = json.dumps({"dataframe_split": {"columns": ["a", "b"], "data": rows.to_numpy().tolist()}}).encode()
    answers: list[tuple[int, str | None, int]] = []  # (status, version header, rows answered)
    stop = threading.Event()

    def client():
        while not stop.is_set():
            request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=body,
                                             headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=60) as answer:
                    answers.append((answer.status, answer.headers.get("X-Seqae-Model-Version"),
                                    len(json.loads(answer.read())["predictions"])))
            except urllib.error.HTTPError as exc:
                answers.append((exc.code, exc.headers.get("X-Seqae-Model-Version"), 0))

    try:
        wait_for(f"http://127.0.0.1:{port}/ping", process, log)
        sender = threading.Thread(target=client)
        sender.start()
        with chdir(tmp_path):
            result = run(*fit, "--seed", "1")  # version 2, the alias moved to it
            assert result.exit_code == 0, result.output
        deadline = time.monotonic() + 90
        while not any(version == "2" for _, version, _ in answers[-1:]) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)  # a few answers more from version 2
        stop.set()
        sender.join(timeout=60)
    finally:
        stop.set()
        process.terminate()
        process.wait(timeout=60)
    assert answers and all(status == 200 and n == len(rows) for status, _, n in answers), answers
    versions = [version for _, version, _ in answers]
    first_two = versions.index("2")
    assert first_two > 0 and set(versions[:first_two]) == {"1"} and set(versions[first_two:]) == {"2"}, versions
    assert "model m version 1 -> 2" in log.read_text()
