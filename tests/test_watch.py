"""`seqae watch` as a user runs it: a real `python -m seqae watch` subprocess fed through a pipe row
by row (each answer read before the next row is written), killed and restarted from its state file,
fed malformed rows, following a growing file, and its monitoring run in a real MLflow store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seqae.data import read_sensor_csv
from seqae.detectors import make_detector
from seqae.synthetic import make_sensor_data

N_ROWS, N_TRAIN, WINDOW = 420, 250, 12
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("watch")
    frame, _, _ = make_sensor_data(N_ROWS, 3, normal_rows=N_TRAIN, anomalies=("level_shift",), anomaly_length=60,
                                   random_state=2)
    frame.index.name = "timestamp"
    frame.to_csv(folder / "data.csv")
    detector = make_detector("knn-window", window_size=WINDOW, smoothing=2).fit(frame.iloc[:N_TRAIN])
    detector.save(folder / "model")
    causal = detector.detect(read_sensor_csv(folder / "data.csv"), causal=True)
    alerts = detector.find_alerts(causal).table
    assert len(alerts) >= 1
    return folder, frame, causal, alerts


def start(args, folder, env_extra=None):
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               MLFLOW_TRACKING_URI=f"sqlite:///{folder}/mlflow.db", **(env_extra or {}))
    return subprocess.Popen([sys.executable, "-m", "seqae", "watch", *args], cwd=folder, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            bufsize=1)


def lines_of(path: Path) -> tuple[str, list[str]]:
    text = path.read_text().splitlines()
    return text[0], text[1:]


def feed_rows(process, rows):
    """Write each row and read its answer before writing the next."""
    answers = []
    for row in rows:
        process.stdin.write(row + "\n")
        process.stdin.flush()
        answers.append(json.loads(process.stdout.readline()))
    return answers


def test_row_by_row_through_a_pipe_equals_score_causal(files):
    folder, frame, causal, alerts = files
    header, rows = lines_of(folder / "data.csv")
    process = start(["model", "-", "--no-track"], folder)
    process.stdin.write(header + "\n")
    answers = feed_rows(process, rows)
    process.stdin.close()
    assert process.wait(timeout=60) == 0, process.stderr.read()
    scores = np.array([np.nan if a["score"] is None else a["score"] for a in answers])
    np.testing.assert_array_equal(scores, causal.scores)
    assert [a["is_anomaly"] for a in answers] == causal.flags.tolist()
    assert sum(a["warming_up"] for a in answers) == WINDOW - 1
    opened = [a["alert"] for a in answers if a["alert"] and a["alert"]["event"] == "open"]
    assert [(e["alert_id"], e["fired_at"]) for e in opened] == \
        [(i, t.isoformat()) for i, t in zip(alerts["alert_id"], alerts["fired_at"])]
    assert [a["line"] for a in answers] == list(range(2, N_ROWS + 2))


def test_killed_and_restarted_from_its_state_file(files, tmp_path):
    """kill -9 after the state was written: the restart goes on from the row after it, the open
    alert kept (no duplicate open), the scores those of one uninterrupted run."""
    folder, frame, causal, alerts = files
    header, rows = lines_of(folder / "data.csv")
    state = tmp_path / "state.json"
    first_alert_row = int(np.flatnonzero(frame.index == alerts["fired_at"].iloc[0])[0])
    cut = first_alert_row + 5  # an alert is open when the first run dies
    process = start(["model", "--no-track", "--state", str(state), "--state-every", "1"], folder)
    process.stdin.write(header + "\n")
    first = feed_rows(process, rows[:cut])
    process.kill()  # no chance to write anything more
    process.wait(timeout=30)
    saved = json.loads(state.read_text())
    assert saved["scorer"]["n_rows"] == cut
    process = start(["model", "--no-track", "--state", str(state)], folder)
    process.stdin.write(header + "\n")
    second = feed_rows(process, rows[cut:])
    process.stdin.close()
    assert process.wait(timeout=60) == 0
    answers = first + second
    scores = np.array([np.nan if a["score"] is None else a["score"] for a in answers])
    np.testing.assert_array_equal(scores, causal.scores)
    events = [(a["alert"]["event"], a["alert"]["alert_id"]) for a in answers if a["alert"]]
    assert events.count(("open", 0)) == 1
    assert ("close", 0) in events and [e for e in events if e[0] == "close"][0] in second_events(second)
    # a row sent again after the restart is refused (not after the last row), not scored twice
    process = start(["model", "--no-track", "--state", str(state)], folder)
    out, err = process.communicate(header + "\n" + rows[-1] + "\n", timeout=60)
    assert out == "" and "is not after the last row's" in err and process.returncode == 0


def second_events(answers):
    return [(a["alert"]["event"], a["alert"]["alert_id"]) for a in answers if a["alert"]]


def test_malformed_rows_are_reported_and_skipped(files):
    folder, frame, causal, _ = files
    header, rows = lines_of(folder / "data.csv")
    bad = ["2026-01-01 00:00:02,1.0,oops,2.0", "2026-01-01 00:00:02,1.0", "2026-01-01 00:00:02,1.0,,2.0",
           "2026-01-01 00:00:00,1.0,1.0,2.0"]  # text, too few fields, a missing reading, a time out of order
    feed = [header, rows[0], rows[1], *bad, *rows[2:30]]
    process = start(["model", "--no-track"], folder)
    out, err = process.communicate("\n".join(feed) + "\n", timeout=60)
    assert process.returncode == 0
    answers = [json.loads(line) for line in out.splitlines()]
    assert len(answers) == 30
    np.testing.assert_array_equal([a["score"] for a in answers[WINDOW - 1:]], causal.scores[WINDOW - 1:30])
    for line, what in [(4, "non-numeric"), (5, "expected 4 fields"), (6, "no reading"), (7, "not after")]:
        assert any(f"line {line}: " in m and what in m and m.endswith("skipped") for m in err.splitlines()), err
    process = start(["model", "--no-track", "--strict"], folder)
    out, err = process.communicate("\n".join(feed) + "\n", timeout=60)
    assert process.returncode == 1 and "line 4:" in err and "--strict" in err and "Traceback" not in err
    assert len(out.splitlines()) == 2


def test_sigterm_ends_it_cleanly_and_writes_the_state(files, tmp_path):
    folder, _, _, _ = files
    header, rows = lines_of(folder / "data.csv")
    state = tmp_path / "state.json"
    process = start(["model", "--no-track", "--state", str(state), "--state-every", "1000"], folder)
    process.stdin.write(header + "\n")
    feed_rows(process, rows[:20])
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    assert json.loads(state.read_text())["scorer"]["n_rows"] == 20
    assert "20 rows scored" in process.stderr.read()


def test_follows_a_growing_file_and_csv_format(files, tmp_path):
    folder, frame, causal, _ = files
    header, rows = lines_of(folder / "data.csv")
    growing = tmp_path / "growing.csv"
    growing.write_text(header + "\n" + "\n".join(rows[:50]) + "\n")
    process = start(["model", str(growing), "--no-track", "--format", "csv"], folder)
    assert process.stdout.readline().strip() == "timestamp,line,score,is_anomaly,warming_up,alert_event,alert_id"
    with open(growing, "a") as fh:  # rows appended after the start are the ones answered
        for row in rows[50:60]:
            fh.write(row + "\n")
            fh.flush()
            answer = process.stdout.readline().strip().split(",")
            assert answer[0] == pd.Timestamp(row.split(",")[0]).isoformat()
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 0
    # from the start, the scores are the file's causal scores
    process = start([ "model", str(growing), "--no-track", "--from-start"], folder)
    answers = [json.loads(process.stdout.readline()) for _ in range(60)]
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    np.testing.assert_array_equal([a["score"] for a in answers[WINDOW - 1:]], causal.scores[WINDOW - 1:60])


def test_monitoring_run_in_mlflow(files, tmp_path):
    """The watch is a run in the model's experiment with batched metrics and the alert table; a
    model whose scores drift far above its threshold warns once that it looks stale."""
    from mlflow.tracking import MlflowClient

    folder, frame, causal, alerts = files
    header, rows = lines_of(folder / "data.csv")
    shifted = frame.copy()
    shifted.iloc[:, :] += 4.0  # nothing like the training rows: every row above the threshold
    shifted.index = shifted.index + pd.Timedelta(days=1)
    more = shifted.to_csv(header=False).splitlines()
    process = start(["model", "--report-every", "50", "--experiment", "watch-tests"], folder)
    out, err = process.communicate(header + "\n" + "\n".join(rows + more) + "\n", timeout=120)
    assert process.returncode == 0, err
    assert err.count("the model looks stale: refit on recent normal data") == 1
    client = MlflowClient(f"sqlite:///{folder}/mlflow.db")
    experiment = client.get_experiment_by_name("watch-tests")
    run = client.search_runs([experiment.experiment_id])[0]
    assert run.data.tags["seqae.kind"] == "monitoring" and run.data.tags["seqae.stale"] == "true"
    assert run.data.metrics["rows_seen"] == 2 * N_ROWS
    history = client.get_metric_history(run.info.run_id, "rows_seen")
    assert [m.value for m in history][:3] == [50, 100, 150]
    assert run.data.metrics["alerts_opened"] >= len(alerts)
    assert 0 < run.data.metrics["expected_share"] < 0.05
    table = pd.read_csv(client.download_artifacts(run.info.run_id, "monitoring/alerts.csv", str(tmp_path)))
    assert len(table) == run.data.metrics["alerts_opened"]
    assert run.info.status == "FINISHED"
