"""`seqae watch` as a user runs it: a real `python -m seqae watch` subprocess fed through a pipe row
by row (each answer read before the next row is written), killed and restarted from its state file,
fed malformed rows, following a growing file, and its monitoring run in a real MLflow store."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fault_helpers import fill, one_error_line, parts, small_disk
from seqae.data import read_sensor_csv
from seqae.detectors import BaseDetector, make_detector
from seqae.streaming import LiveScorer, feed
from seqae.streaming.state import resume
from seqae.synthetic import make_sensor_data

N_ROWS, N_TRAIN, WINDOW = 650, 250, 12  # the alert's cooldown passes before the data ends
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("watch")
    frame, _, _ = make_sensor_data(N_ROWS, 3, normal_rows=N_TRAIN, anomalies=("level_shift",), anomaly_length=60,
                                   random_state=2)
    frame.index.name = "timestamp"
    frame.to_csv(folder / "data.csv")
    detector = make_detector("knn-window", window_size=WINDOW, smoothing=2).fit(frame.iloc[:N_TRAIN])
    detector.save(folder / "model")
    causal = detector.detect(read_sensor_csv(folder / "data.csv"))  # what a feed of the file decides
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
    burn_in = BaseDetector.load(folder / "model").alert_rules_.burn_in  # the rows calibrating the feed's start
    assert sum(a["warming_up"] for a in answers) == WINDOW - 1 + burn_in
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
    assert resume(state, BaseDetector.load(folder / "model"), "-").scorer.n_rows == cut
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


@pytest.mark.parametrize("state_every", [1000, 7])
def test_killed_right_after_an_alert_opens_on_a_growing_file_answers_each_row_once(files, tmp_path, state_every):
    """kill -9 the moment an alert's `open` is read, on a followed file, between the state's whole
    rewrites: the restart answers every row after the last one answered, once, and never opens
    the alert again; the two runs' answers are one uninterrupted run's."""
    folder, frame, causal, alerts = files
    header, rows = lines_of(folder / "data.csv")
    growing, state = tmp_path / "growing.csv", tmp_path / "state.json"
    first_alert_row = int(np.flatnonzero(frame.index == alerts["fired_at"].iloc[0])[0])
    growing.write_text(header + "\n" + "\n".join(rows[:first_alert_row - 3]) + "\n")
    args = ["model", str(growing), "--from-start", "--no-track", "--state", str(state),
            "--state-every", str(state_every)]
    process = start(args, folder)
    first = [json.loads(process.stdout.readline()) for _ in range(first_alert_row - 3)]
    with open(growing, "a") as handle:
        for row in rows[first_alert_row - 3:]:
            handle.write(row + "\n")
            handle.flush()
            first.append(json.loads(process.stdout.readline()))
            if first[-1]["alert"] and first[-1]["alert"]["event"] == "open":
                process.kill()
                break
    assert process.wait(timeout=30) == -signal.SIGKILL
    with open(growing, "a") as handle:
        handle.write("\n".join(rows[len(first):]) + "\n")
    restart_answers_the_rest_as_one_run(args, folder, first, growing, alerts)


def restart_answers_the_rest_as_one_run(args, folder: Path, first: list[dict], growing: Path, alerts) -> None:
    """Restart the watch of `growing` with `args` and stop it once it answered the rows after `first`:
    the two runs' answers are one uninterrupted run's, every row answered once, each alert opened once."""
    process = start(args, folder)
    second = [json.loads(process.stdout.readline()) for _ in range(N_ROWS - len(first))]
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0, process.stderr.read()
    answers = first + second
    assert [a["line"] for a in answers] == list(range(2, N_ROWS + 2))
    uninterrupted = io.StringIO()
    source = feed.LineSource(str(growing), from_start=True)
    feed.watch(LiveScorer(BaseDetector.load(folder / "model")), source, uninterrupted,
               stop=lambda: source.line >= N_ROWS + 1)
    assert answers == [json.loads(line) for line in uninterrupted.getvalue().splitlines()]
    opened = [a["alert"]["alert_id"] for a in answers if a["alert"] and a["alert"]["event"] == "open"]
    assert opened == alerts["alert_id"].tolist()


def test_a_full_disk_under_the_state_file_is_one_line_and_the_restart_answers_each_row_once(files, tmp_path):
    """The state file on a disk with room for its snapshot and a few rows' blocks, a growing file
    fed row by row: the watch stops with one line naming the state file, no temporary file left;
    once there is room, the restart answers every row after the last one answered, once, and the
    two runs' answers are one uninterrupted run's (before: a traceback, 0 rows answered)."""
    folder, frame, causal, alerts = files
    header, rows = lines_of(folder / "data.csv")
    growing = tmp_path / "growing.csv"
    growing.write_text(header + "\n")
    with small_disk(tmp_path / "disk", 1024) as disk:
        state = disk / "state.json"
        args = ["model", str(growing), "--from-start", "--no-track", "--state", str(state), "--state-every", "100000"]
        fill(disk, leave_kb=16)
        process = start(args, folder)
        first = []
        with open(growing, "a") as handle:
            for row in rows:
                handle.write(row + "\n")
                handle.flush()
                answer = process.stdout.readline()
                if not answer:  # the watch stopped
                    break
                first.append(json.loads(answer))
        assert process.wait(timeout=30) == 1
        assert one_error_line(process.stderr.read()) == (f"Error: {state}: cannot write: no space left on device; "
                                                         "free some space (or write elsewhere) and run the command "
                                                         "again")
        assert 0 < len(first) < N_ROWS - 1
        assert parts(disk) == [] and sorted(p.name for p in disk.iterdir()) == ["filler", "state.json"]
        (disk / "filler").unlink()
        with open(growing, "a") as handle:
            handle.write("\n".join(rows[len(first) + 1:]) + "\n")
        restart_answers_the_rest_as_one_run(args, folder, first, growing, alerts)


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
    assert json.loads(state.read_text())["scorer"]["feed"]["n_rows"] == 20
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
    assert run.data.metrics["Live/rows_seen"] == 2 * N_ROWS
    history = client.get_metric_history(run.info.run_id, "Live/rows_seen")
    assert [m.value for m in history][:3] == [50, 100, 150]
    assert run.data.metrics["Live/alerts_opened"] >= len(alerts)
    assert 0 < run.data.metrics["Live/expected_share"] < 0.05
    table = pd.read_csv(client.download_artifacts(run.info.run_id, "monitoring/alerts.csv", str(tmp_path)))
    assert len(table) == run.data.metrics["Live/alerts_opened"]
    assert run.info.status == "FINISHED"


def test_each_alerts_rows_and_level_are_in_its_run_across_a_kill_and_restart(files, tmp_path):
    """A tracked watch killed (kill -9) while an alert is open, and restarted from its state file: its
    run logs each alert's rows as `seqae score` keeps them (the window_size - 1 rows before it,
    value for value), the open alert's first rows from the state, and each alert's followed level."""
    from mlflow.tracking import MlflowClient

    from seqae.verdicts import alert_rows

    folder, frame, causal, alerts = files
    header, rows = lines_of(folder / "data.csv")
    state = tmp_path / "state.json"
    first_alert_row = int(np.flatnonzero(frame.index == alerts["fired_at"].iloc[0])[0])
    cut = first_alert_row + 5  # an alert is open when the first watch dies
    args = ["model", "--state", str(state), "--state-every", "7", "--experiment", "alert-rows-tests"]
    process = start(args, folder)
    process.stdin.write(header + "\n")
    feed_rows(process, rows[:cut])
    process.kill()
    process.wait(timeout=30)
    process = start(args, folder)
    out, err = process.communicate(header + "\n" + "\n".join(rows[cut:]) + "\n", timeout=120)
    assert process.returncode == 0, err
    client = MlflowClient(f"sqlite:///{folder}/mlflow.db")
    experiment = client.get_experiment_by_name("alert-rows-tests")
    run = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"])[0]
    table = pd.read_csv(client.download_artifacts(run.info.run_id, "monitoring/alerts.csv", str(tmp_path)))
    assert table["alert_id"].tolist() == alerts["alert_id"].tolist()
    expected = alert_rows(folder / "data.csv", alerts, list(frame.columns), WINDOW)
    for alert_id, want in expected.items():
        kept = pd.read_csv(client.download_artifacts(run.info.run_id, f"monitoring/rows/{alert_id}.csv",
                                                     str(tmp_path)), index_col=0, parse_dates=True)
        assert kept.index.equals(want.index) and len(kept) == len(want) > WINDOW - 1
        np.testing.assert_array_equal(kept.to_numpy(), want.to_numpy())
    with open(client.download_artifacts(run.info.run_id, "monitoring/followed_levels.json", str(tmp_path))) as handle:
        levels = json.load(handle)
    assert sorted(levels) == sorted(str(a) for a in alerts["alert_id"]) and all(len(v) == 3 for v in levels.values())


def test_a_watch_restarted_inside_an_open_alert_logs_it_with_no_new_event(files, tmp_path):
    """Killed while an alert is open and restarted for a few more rows of it (no alert opens or closes
    in the second run): the second run still logs the alert it took over, with its rows so far."""
    from mlflow.tracking import MlflowClient

    folder, frame, causal, alerts = files
    header, rows = lines_of(folder / "data.csv")
    state = tmp_path / "state.json"
    fired = int(np.flatnonzero(frame.index == alerts["fired_at"].iloc[0])[0])
    end = int(np.flatnonzero(frame.index == alerts["end"].iloc[0])[0])
    assert end >= fired + 12  # the alert is still on at every row fed below
    args = ["model", "--state", str(state), "--state-every", "3", "--experiment", "alert-rows-open"]
    process = start(args, folder)
    process.stdin.write(header + "\n")
    feed_rows(process, rows[:fired + 5])
    process.kill()
    process.wait(timeout=30)
    process = start(args, folder)
    out, err = process.communicate(header + "\n" + "\n".join(rows[fired + 5:fired + 12]) + "\n", timeout=120)
    assert process.returncode == 0, err
    client = MlflowClient(f"sqlite:///{folder}/mlflow.db")
    experiment = client.get_experiment_by_name("alert-rows-open")
    run = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"])[0]
    table = pd.read_csv(client.download_artifacts(run.info.run_id, "monitoring/alerts.csv", str(tmp_path)))
    alert_id = int(alerts["alert_id"].iloc[0])
    assert table["alert_id"].tolist() == [alert_id]
    kept = pd.read_csv(client.download_artifacts(run.info.run_id, f"monitoring/rows/{alert_id}.csv", str(tmp_path)),
                       index_col=0, parse_dates=True)
    assert kept.index[-1] == frame.index[fired + 11]  # its rows up to the last one read


# ---- the parser and the loop in process ------------------------------------------------------------

READINGS = ["1.5", "-2", "+.5", "5.", "1e-3", "-1.25E+2", "007", "0.1", "0.30000000000000004", "-0", "12345678901234567890",
            "1.7976931348623157e308", "1.7976931348623159e308", "4.9e-324", "1e-400", "inf", "-Infinity", "nan", "NaN",
            "", "n/a", "NA", "null", "None", "-", "?", "1_000", "\u0661\u0662", "oops", "1,5", "0x10", "1.2.3", "e5"]
COMMA_READINGS = ["1,5", "-0,25", "12", "1.234,5", "1.5", "1,2,3", "", "n/a", "inf", "1e3", "1,5e-3"]


@pytest.mark.parametrize("decimal, texts", [(".", READINGS), (",", COMMA_READINGS)])
def test_parse_reading_agrees_with_parse_numbers(decimal, texts):
    """Each reading read without pandas is parse_numbers' float64, bit for bit, or is left to it
    (None): never a number where parse_numbers refuses the text or reads another."""
    from seqae.data import parse_numbers, parse_reading
    from seqae.errors import DataError

    fast = 0
    for text in texts:
        try:
            expected = parse_numbers("f.csv", pd.Series([text], dtype=object), "a", decimal)[0]
        except DataError:
            expected = None
        got = parse_reading(text, decimal)
        if got is None:
            continue
        fast += 1
        assert expected is not None, text
        if text != "-0":  # pandas reads an integer -0 as 0; a zero's sign changes no score
            assert np.float64(got).tobytes() == expected.tobytes() or np.isnan(got) and np.isnan(expected), text
    assert fast >= len(texts) // 2  # the usual readings take the fast way


def test_parser_reports_each_malformed_line_and_keeps_the_rest(files):
    """One block with every kind of malformed line: the same rows kept and the same messages as
    the lines parsed one at a time; the readings of the good rows as the file reader gives them."""
    from seqae.data import ReadOptions, RowParser

    folder, frame, _, _ = files
    header, rows = lines_of(folder / "data.csv")
    bad = {4: "2026-01-01 00:00:02,1.0,oops,2.0", 5: "2026-01-01 00:00:02,1.0", 6: "2026-01-01 00:00:02,1.0,,2.0",
           7: "2026-01-01 00:00:00,1.0,1.0,2.0", 8: "not a time,1.0,1.0,2.0", 9: "2026-01-01 00:00:09,1,2;5,3"}
    lines = [(2, rows[0]), (3, rows[1]), *sorted(bad.items()), *[(k + 10, row) for k, row in enumerate(rows[2:20])]]
    columns = [str(c) for c in frame.columns]
    whole = RowParser("feed", header, columns, ReadOptions()).parse(lines)
    single = RowParser("feed", header, columns, ReadOptions())
    one_by_one = [single.parse([line]) for line in lines]
    assert [number for number, _ in whole.errors] == sorted(bad)
    assert whole.errors == [e for p in one_by_one for e in p.errors]
    messages = dict(whole.errors)
    assert "column" in messages[4] and "non-numeric" in messages[4] and "'oops'" in messages[4]
    assert messages[5] == "expected 4 fields (the header's), found 2"
    assert "no reading" in messages[6] and "not after" in messages[7] and "not timestamps" in messages[8]
    assert whole.lines == [line for p in one_by_one for line in p.lines] == [2, 3, *range(10, 28)]
    expected = read_sensor_csv(folder / "data.csv").iloc[:20]
    np.testing.assert_array_equal(whole.values, expected.to_numpy())
    pd.testing.assert_index_equal(whole.index, expected.index)


class Flushes:
    """A text output that records how many lines each flush sent."""

    def __init__(self):
        self.lines, self.flushed = [], []
        self._pending = ""

    def write(self, text):
        self._pending += text

    def flush(self):
        new = self._pending.splitlines()
        self.lines += new
        self.flushed.append(len(new))
        self._pending = ""


def test_rows_waiting_in_the_pipe_are_scored_together(files, monkeypatch):
    """Every row already in the pipe is one block: one update, one flush, still an answer per row
    in order, the scores and alerts of `seqae score --causal`."""
    from seqae.detectors import BaseDetector
    from seqae.streaming import LiveScorer, feed

    folder, frame, causal, alerts = files
    header, rows = lines_of(folder / "data.csv")
    read, write = os.pipe()
    os.write(write, ("\n".join([header, *rows]) + "\n").encode())  # fits the pipe's buffer
    os.close(write)
    stdin = os.fdopen(read)
    monkeypatch.setattr(sys, "stdin", stdin)
    scorer = LiveScorer(BaseDetector.load(folder / "model"))
    updates = []
    score = scorer.score
    monkeypatch.setattr(scorer, "score", lambda values, index: updates.append(len(values)) or score(values, index))
    out = Flushes()
    try:
        summary = feed.watch(scorer, feed.LineSource("-"), out)
    finally:
        stdin.close()
    assert summary.rows == N_ROWS and summary.stopped_by == "end of input"
    assert len(updates) < 4 and sum(updates) == N_ROWS
    assert out.flushed == updates
    answers = [json.loads(line) for line in out.lines]
    assert [a["line"] for a in answers] == list(range(2, N_ROWS + 2))
    np.testing.assert_array_equal([np.nan if a["score"] is None else a["score"] for a in answers], causal.scores)
    assert [a["timestamp"] for a in answers] == [t.isoformat() for t in causal.index]
    opened = [a["alert"] for a in answers if a["alert"] and a["alert"]["event"] == "open"]
    assert [(e["alert_id"], e["fired_at"]) for e in opened] == \
        [(i, t.isoformat()) for i, t in zip(alerts["alert_id"], alerts["fired_at"])]
