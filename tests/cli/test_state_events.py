"""State and constant columns through the CLI: `seqae fit` records what they did in training, and
`seqae score` names each row's never-seen value, transition or constant change in `state_events`,
without changing a score, flag or alert (seqae.data.states)."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from cli_store import in_fitted_store, run

from seqae.data import ReadOptions, options_for_detector, read_sensor_csv
from seqae.data.states import StateBook
from seqae.detectors import BaseDetector, DeviationDetector
from seqae.streaming import score_csv
from seqae.tracking import load_model

DECISIONS = ["score", "raw_score", "is_anomaly", "alert_id", "warming_up"]


def plant(n_rows: int, seed: int) -> pd.DataFrame:
    """Two readings, a valve command that opens for 40 rows every 100, and a pump id that never moves."""
    rng = np.random.default_rng(seed)
    index = pd.date_range("2026-03-01", periods=n_rows, freq="min")
    frame = pd.DataFrame({"Pressure": rng.normal(size=n_rows).round(4) + 5.0,
                          "Temperature": rng.normal(size=n_rows).round(4) + 10.0}, index=index)
    frame["valve_cmd"] = (np.arange(n_rows) % 100 >= 60).astype(int)
    frame["pump_id"] = 3
    return frame


def scored_file(tmp_path) -> tuple[pd.DataFrame, object]:
    """Rows in which the valve goes to a position training never held and the pump id changes."""
    frame = plant(300, seed=1)
    frame.iloc[130, frame.columns.get_loc("valve_cmd")] = 2  # 0 -> 2 -> 0: a value never seen
    frame.iloc[200:, frame.columns.get_loc("pump_id")] = 4
    path = tmp_path / "scored.csv"
    frame.to_csv(path, index_label="timestamp")
    return frame, path


@pytest.fixture
def in_store(tmp_path_factory, monkeypatch):
    return in_fitted_store(tmp_path_factory, monkeypatch)


def test_fit_names_the_watched_columns_and_score_names_each_event(in_store, tmp_path):
    train = tmp_path / "train.csv"
    plant(400, seed=0).to_csv(train, index_label="timestamp")
    result = run("fit", train, "--model", "deviation")
    assert result.exit_code == 0, result.output
    assert "watched: 1 state column watched for values and transitions never seen in training; constant " \
           "column watched for any change: pump_id" in result.output
    uri = re.search(r"^model: +(\S+)", result.output, re.M).group(1)

    frame, path = scored_file(tmp_path)
    wide, alerts = tmp_path / "wide.csv", tmp_path / "alerts.csv"
    assert run("score", uri, path, "-o", wide, "--intervals", alerts).exit_code == 0
    scores = pd.read_csv(wide, keep_default_na=False)
    events = {k: text for k, text in enumerate(scores["state_events"]) if text}
    assert events == {130: "valve_cmd is 2, never seen in training",
                      131: "valve_cmd went 2 -> 0, never seen in training",
                      200: "pump_id (constant 3 in training) changed to 4"}
    assert "state_events" in pd.read_csv(alerts).columns
    # the served model answers the same events, with the same context rows left out
    from seqae import tracking

    request = pd.read_csv(path, index_col="timestamp")
    served = tracking.load_pyfunc_model(uri).predict(request)
    assert list(served["state_events"]) == list(scores["state_events"])
    later = tracking.load_pyfunc_model(uri).predict(request, params={"context_rows": 100})
    assert {k + 100: text for k, text in enumerate(later["state_events"]) if text} == events

    # the same rows without the state columns: every score, flag and alert id the same
    narrow_path, narrow = tmp_path / "narrow.csv", tmp_path / "narrow-scores.csv"
    frame[["Pressure", "Temperature"]].to_csv(narrow_path, index_label="timestamp")
    assert run("score", uri, narrow_path, "-o", narrow).exit_code == 0
    plain = pd.read_csv(narrow, keep_default_na=False)
    pd.testing.assert_frame_equal(scores[DECISIONS], plain[DECISIONS])
    assert (scores["state_events"] == "").sum() == len(scores) - 3
    assert set(plain["state_events"]) == {""}  # the model watches them; the file does not hold them


def test_a_valve_toggling_in_a_way_training_never_saw(tmp_path):
    """A command that only ever went 0 -> 1 -> 0 in training, now stepping 1 -> 2 -> 1 (each seen value,
    an unseen move) and skipping straight back."""
    train = pd.DataFrame({"flow": np.random.default_rng(0).normal(size=300),
                          "mode": np.repeat([0, 1, 2, 0] * 15, 5)[:300]})  # 0 -> 1 -> 2 -> 0, never 2 -> 1
    book = StateBook().fit(train, {"flow": "continuous", "mode": "state"})
    events, last = book.events(pd.DataFrame({"mode": [0, 1, 2, 1, 1, np.nan, 0]}), previous={"mode": 0.0})
    assert events == ["", "", "", "mode went 2 -> 1, never seen in training", "", "",
                      "mode went 1 -> 0, never seen in training"]
    assert last == {"mode": 0.0}


def test_events_are_the_same_scored_whole_in_chunks_or_by_detect(tmp_path):
    detector = DeviationDetector(smoothing=1).fit(plant(400, seed=0))
    frame, path = scored_file(tmp_path)
    whole = detector.detect(frame)
    for chunk_rows in (1, 7, 10_000):
        out = tmp_path / f"chunks-{chunk_rows}.csv"
        score_csv(detector, path, out, chunk_rows=chunk_rows, quiet=True)
        chunked = pd.read_csv(out, keep_default_na=False)
        assert list(chunked["state_events"]) == list(whole.state_events)
        np.testing.assert_array_equal(chunked["is_anomaly"], whole.flags)
    # a feed restarted from its state compares its first row with the last row before the restart
    from seqae.detectors.feed import Feed

    values, index = detector.check_input(frame)
    first = Feed(detector)
    head, _ = first.score(values[:131], index[:131], states=frame.iloc[:131][["valve_cmd", "pump_id"]])
    resumed = Feed.from_state(detector, json.loads(json.dumps(first.state())))
    tail, _ = resumed.score(values[131:], index[131:], states=frame.iloc[131:][["valve_cmd", "pump_id"]])
    assert list(head.state_events) + list(tail.state_events) == list(whole.state_events)


def test_the_book_is_saved_with_the_model_and_read_back(tmp_path):
    detector = DeviationDetector(smoothing=1).fit(plant(400, seed=0))
    detector.save(tmp_path / "model")
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["states"] == {"valve_cmd": {"role": "state", "values": [0.0, 1.0],
                                              "transitions": [[0.0, 1.0], [1.0, 0.0]]},
                                "pump_id": {"role": "constant", "values": [3.0], "transitions": []}}
    loaded = BaseDetector.load(tmp_path / "model")
    frame, path = scored_file(tmp_path)
    assert list(loaded.detect(frame).state_events) == list(detector.detect(frame).state_events)
    # a model of readings alone keeps its config and its scores file as they were: no book, no column
    plain = DeviationDetector(smoothing=1).fit(plant(400, seed=0)[["Pressure", "Temperature"]])
    plain.save(tmp_path / "plain")
    assert "states" not in json.loads((tmp_path / "plain" / "config.json").read_text())
    assert "state_events" not in plain.detect(read_sensor_csv(path)).to_frame().columns


def test_state_columns_the_model_scores_are_not_watched_too():
    """Where no column is continuous the detector models the state columns (`modelled_columns`):
    they are scored, so the book leaves them out and watches the constants alone."""
    frame = plant(400, seed=0)[["valve_cmd", "pump_id"]]
    frame["mode"] = np.arange(400) % 3
    detector = DeviationDetector(smoothing=1).fit(frame)
    assert list(detector.feature_names_in_) == ["valve_cmd", "mode"]
    assert detector.states_.roles_ == {"pump_id": "constant"}
    moved = frame.copy()
    moved.iloc[50, moved.columns.get_loc("mode")] = 7  # a value the model scores: no state event
    moved.iloc[60:, moved.columns.get_loc("pump_id")] = 4
    events = {k: text for k, text in enumerate(detector.detect(moved).state_events) if text}
    assert events == {60: "pump_id (constant 3 in training) changed to 4"}


def test_watch_of_a_growing_file_killed_and_restarted_gives_the_events_of_score(tmp_path):
    """A real `seqae watch` following a growing file, killed with -9 midway and restarted from its state
    file: each row's state_events are those of `seqae score` of the whole file (a gap in the valve
    column included: no reading, the row still scored)."""
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    detector = DeviationDetector(smoothing=1).fit(plant(400, seed=0))
    detector.save(tmp_path / "model")
    frame, path = scored_file(tmp_path)
    frame["valve_cmd"] = frame["valve_cmd"].astype(float)
    frame.iloc[150, frame.columns.get_loc("valve_cmd")] = np.nan
    frame.to_csv(path, index_label="timestamp")
    scored = tmp_path / "scores.csv"
    score_csv(detector, path, scored, quiet=True)
    expected = pd.read_csv(scored, keep_default_na=False)

    header, *rows = path.read_text().splitlines()
    growing, state = tmp_path / "growing.csv", tmp_path / "state.json"
    growing.write_text("\n".join([header] + rows[:120]) + "\n")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    args = [sys.executable, "-m", "seqae", "watch", str(tmp_path / "model"), str(growing), "--from-start",
            "--no-track", "--state", str(state)]
    process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    answers = [json.loads(process.stdout.readline()) for _ in range(120)]
    with open(growing, "a") as handle:
        for row in rows[120:160]:
            handle.write(row + "\n")
            handle.flush()
            answers.append(json.loads(process.stdout.readline()))
    process.kill()
    assert process.wait(timeout=30) == -signal.SIGKILL
    with open(growing, "a") as handle:
        handle.write("\n".join(rows[160:]) + "\n")
    process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    answers += [json.loads(process.stdout.readline()) for _ in range(len(rows) - 160)]
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0, process.stderr.read()
    assert [a["line"] for a in answers] == list(range(2, len(rows) + 2))
    assert [a["state_events"] for a in answers] == list(expected["state_events"])
    assert [a["is_anomaly"] for a in answers] == list(expected["is_anomaly"])
    assert sum(bool(a["state_events"]) for a in answers) == 3


def test_fill_interpolate_holds_a_state_column_and_interpolates_the_readings(in_store, tmp_path):
    """`--fill interpolate` over a gap in the valve column around its 0 -> 1 change: the valve holds its
    last reading (0.5 would be a state training never held), in fit and in score, and the readings are
    interpolated in time as before, so the scores are those of the same rows without the state columns."""
    train_frame = plant(400, seed=0).astype({"valve_cmd": float})
    train_frame.iloc[158:163, train_frame.columns.get_loc("valve_cmd")] = np.nan  # the 0 -> 1 at row 160
    train_frame.iloc[10:13, train_frame.columns.get_loc("Pressure")] = np.nan
    train = tmp_path / "train.csv"
    train_frame.to_csv(train, index_label="timestamp")
    result = run("fit", train, "--model", "deviation", "--fill", "interpolate")
    assert result.exit_code == 0, result.output
    assert "watched: 1 state column watched" in result.output  # not read as a continuous 0, 1/6, ... 1
    uri = re.search(r"^model: +(\S+)", result.output, re.M).group(1)

    frame = plant(300, seed=1).astype({"valve_cmd": float})
    frame.iloc[58:63, frame.columns.get_loc("valve_cmd")] = np.nan  # the 0 -> 1 at row 60
    frame.iloc[258:262, frame.columns.get_loc("valve_cmd")] = np.nan  # and at row 260
    frame.iloc[20:23, frame.columns.get_loc("Pressure")] = np.nan
    path, wide = tmp_path / "gaps.csv", tmp_path / "wide.csv"
    frame.to_csv(path, index_label="timestamp")
    assert run("score", uri, path, "-o", wide, "--fill", "interpolate").exit_code == 0
    scores = pd.read_csv(wide, keep_default_na=False)
    assert set(scores["state_events"]) == {""}  # 0 -> 1 was seen in training; no 0.5 in between
    read = read_sensor_csv(path, ReadOptions(fill="interpolate", hold=("valve_cmd", "pump_id")))  # as the model does
    assert list(read["valve_cmd"].iloc[57:64]) == [0, 0, 0, 0, 0, 0, 1]
    assert list(read["valve_cmd"].iloc[257:263]) == [0, 0, 0, 0, 0, 1]
    pressure = frame["Pressure"].to_numpy()
    np.testing.assert_allclose(read["Pressure"].iloc[20:23],
                               pressure[19] + (pressure[23] - pressure[19]) * np.arange(1, 4) / 4)

    narrow_path, narrow = tmp_path / "narrow.csv", tmp_path / "narrow-scores.csv"
    frame[["Pressure", "Temperature"]].to_csv(narrow_path, index_label="timestamp")
    assert run("score", uri, narrow_path, "-o", narrow, "--fill", "interpolate").exit_code == 0
    pd.testing.assert_frame_equal(scores[DECISIONS], pd.read_csv(narrow, keep_default_na=False)[DECISIONS])


def test_a_fleet_fit_with_fill_interpolate_holds_each_machines_state_column(in_store, tmp_path):
    """A fleet export with a gap in the valve column around its 0 -> 1 change, fitted with `--fill
    interpolate`: each machine's model saw the valve at 0 and 1 only (a 0.5 would be a state it then
    reports as never seen), and scoring the same export reports no event."""
    frames = []
    for machine, seed in (("pump-a", 0), ("pump-b", 1)):
        frame = plant(400, seed=seed).astype({"valve_cmd": float})
        frame.iloc[158:163, frame.columns.get_loc("valve_cmd")] = np.nan  # the 0 -> 1 at row 160
        frames.append(frame.assign(machine=machine))
    export = tmp_path / "fleet.csv"
    pd.concat(frames).to_csv(export, index_label="timestamp")
    result = run("fit", export, "--asset-column", "machine", "--model", "deviation", "--fill", "interpolate")
    assert result.exit_code == 0, result.output
    uri = re.search(r"^model: +(\S+)", result.output, re.M).group(1)
    fleet = load_model(uri).detector
    for machine in ("pump-a", "pump-b"):  # not read as a continuous 0, 1/6, ... 1
        detector = fleet.detector_for(machine)
        assert detector.roles_["valve_cmd"] == "state" and detector.states_.values_["valve_cmd"] == [0.0, 1.0]
    scores = tmp_path / "scores.csv"
    assert run("score", uri, export, "-o", scores, "--fill", "interpolate").exit_code == 0
    assert set(pd.read_csv(scores, keep_default_na=False)["state_events"]) == {""}


def test_watch_resample_holds_the_valve_at_its_last_reading(tmp_path):
    """A real `seqae watch --resample 2min` of readings every minute, every other one 20 s late: a grid
    time's span holds the valve's 0 and its 1 around each change, whose mean (0.5) would be a state
    training never held; the valve takes its last reading, so no event is reported."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    DeviationDetector(smoothing=1).fit(plant(400, seed=0)).save(tmp_path / "model")
    frame = plant(300, seed=1)
    frame.index = frame.index + pd.to_timedelta(np.where(np.arange(300) % 2, 20, 0), unit="s")
    frame.to_csv(tmp_path / "in.csv", index_label="timestamp")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    with open(tmp_path / "in.csv") as stdin:
        result = subprocess.run([sys.executable, "-m", "seqae", "watch", str(tmp_path / "model"), "-", "--resample",
                                 "2min", "--no-track"], stdin=stdin, capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    answers = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert len(answers) == 150 and {a["state_events"] for a in answers} == {""}


def fit_uri(*args) -> str:
    result = run("fit", *args)
    assert result.exit_code == 0, result.output
    return re.search(r"^model: +(\S+)", result.output, re.M).group(1)


def test_fit_holds_a_column_declared_state_whose_readings_look_continuous(in_store, tmp_path):
    """A set point of 20 whole-number steps (more than a state has, so not found to be one) declared a
    state with `--param roles=...`, fitted with `--fill interpolate` over a gap around its 0 -> 1 step:
    the fit's reader holds it as the model then does (`options_for_detector`), so training saw its
    steps only, never the 1/6, 2/6, ... a line through the gap would make."""
    frame = plant(400, seed=0)
    frame["setpoint"] = (np.arange(400) // 20).astype(float)  # 0, 1, ..., 19
    frame.iloc[18:23, frame.columns.get_loc("setpoint")] = np.nan  # the 0 -> 1 at row 20
    train = tmp_path / "train.csv"
    frame.to_csv(train, index_label="timestamp")
    uri = fit_uri(train, "--model", "deviation", "--fill", "interpolate", "--param", 'roles={"setpoint": "state"}')
    detector = load_model(uri).detector
    assert detector.roles_["setpoint"] == "state"
    assert set(options_for_detector(detector).hold) == {"setpoint", "valve_cmd", "pump_id"}
    assert detector.states_.values_["setpoint"] == [float(v) for v in range(20)]


def test_fit_interpolates_a_column_declared_continuous_whose_readings_look_like_states(in_store, tmp_path):
    """The valve command declared continuous (`--param roles=...`) is modelled as a reading: the fit's
    reader draws a line through its gap, as `seqae score` of the model then does, not holding it."""
    frame = plant(400, seed=0).astype({"valve_cmd": float})
    frame.iloc[158:163, frame.columns.get_loc("valve_cmd")] = np.nan  # the 0 -> 1 at row 160
    train = tmp_path / "train.csv"
    frame.to_csv(train, index_label="timestamp")
    uri = fit_uri(train, "--model", "deviation", "--fill", "interpolate", "--param", 'roles={"valve_cmd": "continuous"}')
    detector = load_model(uri).detector
    assert options_for_detector(detector).hold == ("pump_id",)
    as_scored = read_sensor_csv(train, options_for_detector(detector, ReadOptions(fill="interpolate")))
    assert as_scored["valve_cmd"].iloc[157:164].tolist() == pytest.approx([k / 6 for k in range(7)])
    levels = dict(zip(detector.feature_names_in_, detector.level_reference_))
    assert levels["valve_cmd"] == pytest.approx(as_scored["valve_cmd"].mean(), abs=1e-12)


def test_fit_decides_the_held_columns_on_the_training_rows_alone(in_store, tmp_path):
    """With `--train-rows 400`, the valve is a state in the training rows (0 and 1) and a reading after
    them (a position drifting through many values): the training rows hold it through their gap, as
    its role (found on those rows) says, and the model watches it as a state of 0 and 1."""
    frame = plant(600, seed=0).astype({"valve_cmd": float})
    frame.iloc[158:163, frame.columns.get_loc("valve_cmd")] = np.nan  # the 0 -> 1 at row 160
    frame.iloc[400:, frame.columns.get_loc("valve_cmd")] = np.linspace(0, 1, 200).round(3)
    train = tmp_path / "train.csv"
    frame.to_csv(train, index_label="timestamp")
    uri = fit_uri(train, "--model", "deviation", "--fill", "interpolate", "--train-rows", "400")
    detector = load_model(uri).detector
    assert detector.roles_["valve_cmd"] == "state" and detector.states_.values_["valve_cmd"] == [0.0, 1.0]
    assert set(options_for_detector(detector).hold) == {"valve_cmd", "pump_id"}
    until = fit_uri(train, "--model", "deviation", "--fill", "interpolate", "--train-until",
                    str(frame.index[399]))
    assert load_model(until).detector.states_.values_["valve_cmd"] == [0.0, 1.0]


def test_a_fleet_fit_holds_each_machines_column_declared_state(in_store, tmp_path):
    """A fleet export whose set point (20 whole-number steps) is declared a state by hand, and whose
    valve drifts through many values after the 400 training rows: each machine's training rows hold
    both through their gaps, as their roles say, so each model saw their steps only."""
    frames = []
    for machine, seed in (("pump-a", 0), ("pump-b", 1)):
        frame = plant(600, seed=seed).astype({"valve_cmd": float})
        frame["setpoint"] = (np.arange(600) // 20).astype(float)  # 0, 1, ..., 29 (0 to 19 in training)
        frame.iloc[18:23, frame.columns.get_loc("setpoint")] = np.nan  # the 0 -> 1 at row 20
        frame.iloc[158:163, frame.columns.get_loc("valve_cmd")] = np.nan  # the 0 -> 1 at row 160
        frame.iloc[400:, frame.columns.get_loc("valve_cmd")] = np.linspace(0, 1, 200).round(3)
        frames.append(frame.assign(machine=machine))
    export = tmp_path / "fleet.csv"
    pd.concat(frames).to_csv(export, index_label="timestamp")
    uri = fit_uri(export, "--asset-column", "machine", "--model", "deviation", "--fill", "interpolate",
                  "--train-rows", "400", "--param", 'roles={"setpoint": "state"}')
    fleet = load_model(uri).detector
    for machine in ("pump-a", "pump-b"):
        detector = fleet.detector_for(machine)
        assert detector.states_.values_["valve_cmd"] == [0.0, 1.0]
        assert detector.states_.values_["setpoint"] == [float(v) for v in range(20)]
