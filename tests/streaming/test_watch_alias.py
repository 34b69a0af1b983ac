"""`seqae watch models:/NAME@ALIAS` follows its alias: a real watch subprocess on a growing file and a
real MLflow store (./mlruns), the alias moved by a real `seqae feedback --alias` while it runs."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from cli_store import chdir, error_line, run
from seqae.detectors import make_detector
from seqae.streaming import LiveScorer
from seqae.streaming.alert_rows import AlertRows
from seqae.streaming.state import saved_model
from seqae.streaming.switch import RecentRows, rows_to_warm, switched

REPO = Path(__file__).resolve().parents[2]
N_TRAIN, N_TEST = 400, 500
BUMPS = (150, 350)  # the same harmless bump twice in the test file
SWITCH = re.compile(r"model m version 1 -> 2 at row (\d+)")


def _series(n: int, first: int, seed: int) -> np.ndarray:
    t = np.arange(first, first + n)
    rng = np.random.default_rng(seed)
    return np.column_stack([np.sin(2 * np.pi * t / 50), np.cos(2 * np.pi * t / 50)]) + 0.02 * rng.normal(size=(n, 2))


def _frame(values: np.ndarray, first: int) -> pd.DataFrame:
    times = pd.date_range("2026-03-02", periods=len(values) + first, freq="s")[first:]
    return pd.DataFrame(values, columns=["a", "b"], index=pd.Index(times, name="timestamp"))


def _test_values() -> np.ndarray:
    test = _series(N_TEST, N_TRAIN, 1)
    for at in BUMPS:
        test[at:at + 30, 0] += 1.5 * np.hanning(30)
    return test


def _answers(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _start_watch(tmp_path, before: int, *options: str):
    """The first `before` rows of test.csv in live.csv, and `seqae watch models:/m@champion live.csv
    --from-start --check-every 1 OPTIONS` started on it: (process, the test rows, live.csv, its
    answers' file, its stderr's file)."""
    header, *rows = (tmp_path / "test.csv").read_text().splitlines(keepends=True)
    live = tmp_path / "live.csv"
    live.write_text(header + "".join(rows[:before]))
    out, err = tmp_path / "out.jsonl", tmp_path / "err.txt"
    with open(out, "w") as stdout, open(err, "w") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "seqae", "watch", "models:/m@champion", "live.csv",
                                    "--from-start", "--check-every", "1", *options],
                                   cwd=tmp_path, env=_watch_env(), stdout=stdout, stderr=stderr)
    return process, rows, live, out, err


def _watch_env() -> dict:
    """This checkout's seqae for a `seqae watch` subprocess, on the store of its working folder."""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def _feed_through_the_switch(live, rows, written, process, out, err) -> None:
    """Append `rows` from `written` on to the live file a few at a time until the watch has switched
    (before the second bump, so that it comes once it has), then the rest, and wait for every answer."""
    with open(live, "a") as handle:
        while written < BUMPS[1] - 30 and not SWITCH.search(err.read_text()):
            handle.write("".join(rows[written:written + 2]))
            handle.flush()
            written += 2
            time.sleep(0.05)
        _wait_for(lambda: SWITCH.search(err.read_text()) or process.poll() is not None, what="the switch")
        handle.write("".join(rows[written:]))
    _wait_for(lambda: len(_answers(out)) >= N_TEST or process.poll() is not None, what="every row")


def _wait_for(condition, timeout: float = 90.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_a_watch_of_an_alias_switches_to_the_new_version_at_the_next_row_and_answers_each_row_once(
        tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    _frame(_series(N_TRAIN, 0, 0), 0).to_csv(tmp_path / "train.csv")
    test = _frame(_test_values(), N_TRAIN)
    test.to_csv(tmp_path / "test.csv")
    with chdir(tmp_path):
        result = run("fit", "train.csv", "--model", "knn-window", "--window-size", "10", "--register", "m",
                     "--alias", "champion", "-q")
        assert result.exit_code == 0, result.output
        assert run("score", "models:/m/1", "test.csv", "-o", "s1.csv").exit_code == 0  # alert 0: the first bump

    before = 250  # rows in the file before version 2 exists: the first bump and its alert are behind
    process, rows, live, out, err = _start_watch(tmp_path, before, "--state", "state.json")
    try:
        _wait_for(lambda: len(_answers(out)) == before or process.poll() is not None, what="the first rows")
        assert process.poll() is None, err.read_text()
        with chdir(tmp_path):
            result = run("feedback", "models:/m/1", "--alert", "0", "--normal", "--alias", "champion")
        assert result.exit_code == 0, result.output
        assert str(MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns/mlflow.db").get_model_version_by_alias(
            "m", "champion").version) == "2"
        _feed_through_the_switch(live, rows, before, process, out, err)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    assert process.returncode == 0, err.read_text()

    answers = _answers(out)
    assert [a["line"] for a in answers] == list(range(2, N_TEST + 2))  # each row answered, once
    switches = SWITCH.findall(err.read_text())
    assert len(switches) == 1, err.read_text()
    row = int(switches[0])  # the first row version 2 answers, 1 the feed's first
    assert before < row <= BUMPS[1] - 30 + 1
    assert [a["model_version"] for a in answers] == ["1"] * (row - 1) + ["2"] * (N_TEST - row + 1)
    assert not any(a["warming_up"] for a in answers[row - 1:])  # warmed on the rows before the switch
    # the first bump's alert (version 1) opened once, and version 2, taught it is normal, raises none
    opened = [a["alert"] for a in answers if a["alert"] and a["alert"]["event"] == "open"]
    assert [o["alert_id"] for o in opened if pd.Timestamp(o["start"]) < test.index[before]] == [0]
    assert not [o for o in opened if pd.Timestamp(o["start"]) >= test.index[BUMPS[1] - 5]], opened
    # the switch is in the watch's run and in its state file, for a restart to go on with version 2
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    watch_runs = [r for r in client.search_runs([client.get_experiment_by_name("seqae").experiment_id])
                  if r.data.tags.get("seqae.kind") == "monitoring"]
    assert len(watch_runs) == 1
    tags = watch_runs[0].data.tags
    assert tags["seqae.switch.1"] == f"version 1 -> 2 at row {row}" and tags["seqae.model_version"] == "2"
    assert saved_model(tmp_path / "state.json")["version"] == "2"

    # a restart goes on with version 2, which wrote the state, then finds the alias back on 1 and switches at once
    client.set_registered_model_alias("m", "champion", "1")
    more = _frame(_series(20, N_TRAIN + N_TEST, 2), N_TRAIN + N_TEST)
    with open(live, "a") as handle:
        handle.write(more.to_csv(header=False))
    with open(out, "w") as stdout, open(err, "w") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "seqae", "watch", "models:/m@champion", "live.csv",
                                    "--check-every", "1", "--state", "state.json", "--no-track"],
                                   cwd=tmp_path, env=_watch_env(), stdout=stdout, stderr=stderr)
    try:
        _wait_for(lambda: len(_answers(out)) >= len(more) or process.poll() is not None, what="the rows added")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    assert process.returncode == 0, err.read_text()
    again = _answers(out)
    assert [a["line"] for a in again] == list(range(N_TEST + 2, N_TEST + 22))
    assert f"model m version 2 -> 1 at row {N_TEST + 1}" in err.read_text()
    assert {a["model_version"] for a in again} == {"1"}


def test_feedback_finds_an_alert_by_the_version_of_a_followed_alias_that_raised_it(tmp_path, monkeypatch):
    """Versions 1 and 2 fitted alike, a real watch of `models:/m@champion` switched to 2 by moving the
    alias between the two bumps: alert 1 (the second bump, raised by version 2) is found for
    `seqae feedback` by version and by alias without --run; alert 0 (version 1's) is not taught to
    version 2: a one-line error names version 1 and the command."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    _frame(_series(N_TRAIN, 0, 0), 0).to_csv(tmp_path / "train.csv")
    _frame(_test_values(), N_TRAIN).to_csv(tmp_path / "test.csv")
    with chdir(tmp_path):
        for alias in (["--alias", "champion"], []):
            result = run("fit", "train.csv", "--model", "knn-window", "--window-size", "10", "--register", "m",
                         *alias, "-q")
            assert result.exit_code == 0, result.output

    before = 250  # the first bump (alert 0) answered by version 1
    process, rows, live, out, err = _start_watch(tmp_path, before)
    try:
        _wait_for(lambda: len(_answers(out)) == before or process.poll() is not None, what="the first rows")
        assert process.poll() is None, err.read_text()
        MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns/mlflow.db").set_registered_model_alias(
            "m", "champion", "2")
        _feed_through_the_switch(live, rows, before, process, out, err)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    assert process.returncode == 0, err.read_text()
    watch_run = re.search(r"monitoring run (\w+)", err.read_text()).group(1)
    opened = {a["alert"]["alert_id"]: a["model_version"] for a in _answers(out)
              if a["alert"] and a["alert"]["event"] == "open"}
    assert opened == {0: "1", 1: "2"}, opened

    with chdir(tmp_path):
        for model, verdict in (("models:/m/2", "--normal"), ("models:/m@champion", "--fault")):
            result = run("feedback", model, "--alert", "1", verdict)
            assert result.exit_code == 0, result.output
            assert "alert 1 " in result.output and f"from watch run {watch_run}" in result.output
        message = error_line(run("feedback", "models:/m/2", "--alert", "0", "--normal"))
    assert f"alert 0 of watch run {watch_run}" in message and "was raised by models:/m/1, not by models:/m/2" in message
    assert "`seqae feedback models:/m/1 --alert 0 --normal`" in message and f"--run {watch_run}" in message


def test_switched_scorer_goes_on_from_the_same_row_with_the_open_alert(frame):
    """In memory: a scorer handed to another model mid-alert keeps the alert open (same id, no second
    open) and its rows' positions; the new model's warm-up is done on the rows kept."""
    first = make_detector("knn-window", window_size=12).fit(frame.iloc[:600])
    second = make_detector("knn-window", window_size=12, n_neighbors=3).fit(frame.iloc[:600])
    scorer, recent = LiveScorer(first), RecentRows.for_detector(first)
    opened_at = None
    for k in range(len(frame)):
        rows = frame.iloc[k:k + 1]
        scorer.update(rows)
        recent.add(rows.index, rows.to_numpy(), [k])
        if any(e.event == "open" for e in scorer.events):
            opened_at = k
            break
    assert opened_at is not None
    new = switched(scorer, second, recent)
    assert new.n_rows == scorer.n_rows == opened_at + 1 and new.detector is second
    assert new.tracker.n_alerts == scorer.tracker.n_alerts and not new.tracker.idle
    detection = new.update(frame.iloc[opened_at + 1:])
    assert len(recent) >= rows_to_warm(second) and not detection.warming_up.any()
    events = [(e.event, e.alert["alert_id"]) for e in new.events]
    assert ("open", 0) not in events and ("close", 0) in events


def test_alert_rows_mark_each_alert_with_the_model_answering_when_it_fired_and_keep_it_across_a_restart(frame):
    """In memory: an alert that fired before a model was named (rows a restart went over again) is the
    first named model's; one that fires after a switch is the new model's; the state keeps them."""
    detector = make_detector("knn-window", window_size=12).fit(frame.iloc[:600])
    scorer, kept = LiveScorer(detector), AlertRows.for_detector(detector)
    first, second = {"model_uri": "models:/m/1", "model_run_id": "r1"}, {"model_uri": "models:/m/2", "model_run_id": "r2"}

    def feed(lo: int, hi: int) -> None:
        for k in range(lo, hi, 25):
            rows = frame.iloc[k:min(k + 25, hi)]
            scorer.update(rows)
            kept.add(scorer, rows.index, rows.to_numpy())

    feed(0, 650)  # alert 0 fires at row 604
    assert [a.alert_id for a in scorer.tracker.alerts] == [0] and kept.raised_by == {}
    kept.answering(first)
    feed(650, 700)
    kept.answering(second)
    feed(700, len(frame))  # alert 1 fires at row 784
    assert kept.raised_by == {0: first, 1: second}
    again = AlertRows.for_detector(detector)
    again.load_state(json.loads(json.dumps(kept.state())), scorer)
    assert again.raised_by == {0: first, 1: second}
    older = {key: value for key, value in kept.state().items() if key != "raised_by"}  # a state file from before
    again = AlertRows.for_detector(detector)
    again.load_state(json.loads(json.dumps(older)), scorer)
    assert again.raised_by == {} and sorted(again.alerts) == [0, 1]


def test_switched_scorer_keeps_the_last_readings_of_the_state_columns(tmp_path):
    """Two versions saved and loaded, both watching a mode and a constant pump id: the first row after
    the switch is compared with the feed's last readings, so the mode's 2 -> 1 across the switch is
    reported, the pump id that moved before it is not reported again, and the events are those of a
    feed that never switched."""
    from seqae.detectors import BaseDetector, DeviationDetector

    rng = np.random.default_rng(0)
    times = pd.date_range("2026-03-01", periods=460, freq="min")
    train = pd.DataFrame({"flow": rng.normal(size=400), "mode": np.repeat([0, 1, 2] * 34, 4)[:400],
                          "pump_id": 3}, index=times[:400])  # the mode goes 0 -> 1 -> 2 -> 0, never 2 -> 1
    DeviationDetector(smoothing=1).fit(train).save(tmp_path / "v1")
    DeviationDetector(smoothing=3).fit(train.iloc[100:]).save(tmp_path / "v2")
    first, second = BaseDetector.load(tmp_path / "v1"), BaseDetector.load(tmp_path / "v2")
    mode = [0] * 5 + [1] * 5 + [2] * 5 + [0] * 5 + [1] * 5 + [2] * 5 + [1] * 10 + [2] * 10 + [0] * 10
    test = pd.DataFrame({"flow": rng.normal(size=60), "mode": mode, "pump_id": [3] * 10 + [4] * 50},
                        index=times[400:])

    scorer, recent = LiveScorer(first), RecentRows.for_detector(first)
    before = scorer.update(test.iloc[:30])
    recent.add(test.index[:30], test[["flow"]].to_numpy()[:30], np.arange(30))
    after = switched(scorer, second, recent).update(test.iloc[30:])
    events = {k: text for k, text in enumerate(list(before.state_events) + list(after.state_events)) if text}
    assert events == {10: "pump_id (constant 3 in training) changed to 4",
                      30: "mode went 2 -> 1, never seen in training"}
    assert list(LiveScorer(first).update(test).state_events) == list(before.state_events) + list(after.state_events)


def _plant(n_rows: int, seed: int, b_cmd: bool) -> pd.DataFrame:
    """Two readings and a valve command opening for 40 rows every 100; with `b_cmd`, a second command
    toggling every 25 rows (a state column of the model fitted on it)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"Pressure": rng.normal(size=n_rows).round(4) + 5.0,
                          "Temperature": rng.normal(size=n_rows).round(4) + 10.0,
                          "valve_cmd": (np.arange(n_rows) % 100 >= 60).astype(int)},
                         index=pd.Index(pd.date_range("2026-03-01", periods=n_rows, freq="min"), name="timestamp"))
    if b_cmd:
        frame["b_cmd"] = (np.arange(n_rows) % 50 >= 25).astype(int)
    return frame


@pytest.mark.parametrize("shaping", [[], ["--duplicates", "last"]], ids=["as-they-come", "duplicates-last"])
def test_a_switch_to_a_version_watching_another_state_column_reads_it_and_reports_its_events(tmp_path, monkeypatch,
                                                                                             shaping):
    """Version 1 fitted on rows without `b_cmd`, version 2 on rows where it toggles (a state column): a real
    watch of the alias, switched to version 2 by moving the alias, reads `b_cmd` from the switch on and
    reports its never-seen value; killed with -9 and restarted from its state file, it reads it too. With
    --duplicates last a row waits for the next one: the row waiting at the switch is carried over."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    _plant(400, 0, b_cmd=False).to_csv(tmp_path / "train1.csv")
    _plant(400, 0, b_cmd=True).to_csv(tmp_path / "train2.csv")
    test = _plant(300, 1, b_cmd=True)
    test.iloc[[200, 260], test.columns.get_loc("b_cmd")] = 2  # a value version 2 never saw, after the switch
    test.to_csv(tmp_path / "test.csv")
    with chdir(tmp_path):
        for train, alias in (("train1.csv", ["--alias", "champion"]), ("train2.csv", [])):
            result = run("fit", train, "--model", "deviation", "--register", "m", *alias, "-q")
            assert result.exit_code == 0, result.output

    header, *rows = (tmp_path / "test.csv").read_text().splitlines(keepends=True)
    live = tmp_path / "live.csv"
    live.write_text(header + "".join(rows[:100]))
    env = _watch_env()
    args = [sys.executable, "-m", "seqae", "watch", "models:/m@champion", "live.csv", "--check-every", "1",
            "--state", "state.json", "--no-track", *shaping]
    waiting = 1 if shaping else 0  # the last row waits for a later time
    out, err, again = tmp_path / "out.jsonl", tmp_path / "err.txt", tmp_path / "again.jsonl"
    with open(out, "w") as stdout, open(err, "w") as stderr:
        process = subprocess.Popen(args + ["--from-start"], cwd=tmp_path, env=env, stdout=stdout, stderr=stderr)
    try:
        _wait_for(lambda: len(_answers(out)) == 100 - waiting or process.poll() is not None, what="the first rows")
        assert process.poll() is None, err.read_text()
        MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns/mlflow.db").set_registered_model_alias(
            "m", "champion", "2")
        written = 100
        with open(live, "a") as handle:  # a few rows at a time until the watch has switched, then up to row 230
            while written < 180 and not SWITCH.search(err.read_text()):
                handle.write("".join(rows[written:written + 2]))
                handle.flush()
                written += 2
                time.sleep(0.05)
            _wait_for(lambda: SWITCH.search(err.read_text()) or process.poll() is not None, what="the switch")
            handle.write("".join(rows[written:230]))
        _wait_for(lambda: len(_answers(out)) >= 230 - waiting or process.poll() is not None, what="row 230")
        assert process.poll() is None, err.read_text()
    finally:
        process.kill()
        process.wait(timeout=60)
    with open(live, "a") as handle:
        handle.write("".join(rows[230:]))
    with open(again, "w") as stdout, open(err, "a") as stderr:  # goes on with version 2, from the state file
        process = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=stdout, stderr=stderr)
    try:
        _wait_for(lambda: len(_answers(again)) >= 70 or process.poll() is not None, what="the rows after the kill")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    assert process.returncode == 0, err.read_text()

    answers = _answers(out) + _answers(again)
    assert [a["line"] for a in answers] == list(range(2, 302 - waiting))  # each row answered, once
    assert int(SWITCH.search(err.read_text()).group(1)) <= 181
    assert {a["line"] - 2: a["state_events"] for a in answers if a["state_events"]} == {
        200: "b_cmd is 2, never seen in training", 201: "b_cmd went 2 -> 0, never seen in training",
        260: "b_cmd is 2, never seen in training", 261: "b_cmd went 2 -> 0, never seen in training"}
