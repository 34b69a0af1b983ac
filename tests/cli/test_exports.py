"""Exports as the tools that make them write them, read through the commands a user runs.

Each file is written the way its tool writes it (pandas' `to_csv`, a spreadsheet's CSV export with
a units row, a historian's description rows, a logger keeping local time through the autumn clock
change, NAB's repeated rows, compressed files) and read by `seqae fit`, `seqae score` and `seqae
watch`: to the right instants, or refused in one line naming the option that fixes it.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_store import in_fitted_store, run

from seqae.data import read_sensor_csv
from seqae.detectors import DeviationDetector

REPO = Path(__file__).resolve().parents[2]
BERLIN = "Europe/Berlin"


@pytest.fixture
def in_store(tmp_path_factory, monkeypatch):
    return in_fitted_store(tmp_path_factory, monkeypatch)


def fit(path, *options) -> str:
    result = run("fit", path, "--model", "deviation", "--quiet", *options)
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[-1]


def lines_of(result, kind: str) -> list[str]:
    """The `Error:` or `Warning:` lines a command wrote to stderr."""
    return [line for line in result.stderr.splitlines() if line.startswith(kind + ":")]


def one_error(result) -> str:
    assert result.exit_code in (1, 2) and "Traceback" not in result.output, result.output
    errors = lines_of(result, "Error")
    assert len(errors) == 1, result.output
    return errors[0]


def readings(n_rows: int, index, columns=("Pressure", "Temperature"), seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(size=(n_rows, len(columns))).round(4) + 5.0 * np.arange(1, len(columns) + 1),
                        index=index, columns=list(columns))


def watch(model, text: str, *options) -> tuple[list[dict], str]:
    """`python -m seqae watch MODEL - --no-track`, the CSV `text` piped in whole: its answers and stderr."""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, "-m", "seqae", "watch", str(model), "-", "--no-track", *options],
                          input=text, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()], done.stderr


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    """A deviation model of Pressure and Temperature, saved as a folder (what `seqae score` and
    `seqae watch` load besides MLflow URIs)."""
    folder = tmp_path_factory.mktemp("export-model") / "model"
    frame = readings(400, pd.date_range("2026-03-01", periods=400, freq="min", tz="UTC"))
    DeviationDetector(smoothing=1).fit(frame).save(folder)
    return folder


# ---- one time format per column -----------------------------------------------------------------


@pytest.mark.parametrize("second", ["%d.%m.%Y %H:%M:%S", "%d/%m/%Y %H:%M:%S"])
def test_a_time_column_mixing_two_exports_is_refused_at_the_first_row_of_the_second(in_store, saved_model, tmp_path,
                                                                                     second):
    """The first half as pandas writes it (ISO), the second as a German or British spreadsheet does:
    never read row by row differently (the second half would be 3 January, re-sorted)."""
    index = pd.date_range("2026-03-01", periods=600, freq="min")
    frame = readings(600, index)
    path = tmp_path / "joined.csv"
    frame.iloc[:300].to_csv(path, index_label="timestamp")
    with open(path, "a") as handle:
        frame.iloc[300:].to_csv(handle, header=False, date_format=second)
    written = frame.index[300].strftime(second)
    expected = (f"time column 'timestamp' mixes time formats: row 302 ({written!r}) is not written as the column's "
                "first time is (ISO 8601, like '2026-03-01 00:00:00')")
    assert expected in one_error(run("fit", path, "--model", "deviation"))
    assert expected in one_error(run("score", saved_model, path, "-o", tmp_path / "scores.csv"))
    assert not (tmp_path / "scores.csv").exists()


def test_a_spreadsheet_time_format_reads_every_row_by_that_format(tmp_path):
    """Day-first dates, a fraction of a second on some rows only: one format, and 13.03 tells the day."""
    text = "Zeit;Druck\n12.03.2026 23:59:59;1\n13.03.2026 00:00:00,5;2\n13.03.2026 00:00:01;3\n"
    path = tmp_path / "excel.csv"
    path.write_text(text)
    frame = read_sensor_csv(path, decimal=".")
    assert frame.index.tolist() == [pd.Timestamp("2026-03-12 23:59:59"), pd.Timestamp("2026-03-13 00:00:00.5"),
                                    pd.Timestamp("2026-03-13 00:00:01")]


# ---- a units row under the header ----------------------------------------------------------------


@pytest.mark.parametrize("header, units, sep", [
    ("timestamp,Pressure,Temperature", ",(bar),(degC)", ","),  # a spreadsheet's units row
    ("timestamp,Pressure,Temperature", ",bar,degC", ","),
    ("Zeitstempel;Pressure;Temperature", "Einheit;bar;°C", ";"),  # a German logger's
])
def test_a_units_row_is_skipped_with_a_warning_naming_it(in_store, saved_model, tmp_path, header, units, sep):
    frame = readings(500, pd.date_range("2026-03-01", periods=500, freq="min"))
    body = frame.to_csv(header=False, sep=sep)
    with_units, plain = tmp_path / "export.csv", tmp_path / "plain.csv"
    with_units.write_text(f"{header}\n{units}\n{body}", encoding="utf-8")
    plain.write_text(f"{header}\n{body}", encoding="utf-8")
    result = run("fit", with_units, "--model", "deviation", "--quiet")
    assert result.exit_code == 0, result.output
    warned = lines_of(result, "Warning")
    assert len(warned) == 1 and "line 2 (" in warned[0] and "a units or description row under the header: " \
        "skipped (pass --skip-rows 1 to say so)" in warned[0], result.output
    quiet = run("fit", with_units, "--model", "deviation", "--quiet", "--skip-rows", "1")
    assert quiet.exit_code == 0 and lines_of(quiet, "Warning") == [], quiet.output
    model = result.stdout.strip().splitlines()[-1]
    for path in (with_units, plain):
        scored = run("score", model, path, "-o", tmp_path / f"{path.stem}.scores.csv")
        assert scored.exit_code == 0, scored.output
    assert (tmp_path / "export.scores.csv").read_text() == (tmp_path / "plain.scores.csv").read_text()
    answers, err = watch(saved_model, with_units.read_text(), "--from-start")
    assert [a["line"] for a in answers] == list(range(3, 503)) and "line 2 (" in err


def test_a_historians_description_and_units_rows(in_store, tmp_path):
    frame = readings(300, pd.date_range("2026-03-01", periods=300, freq="min"))
    path = tmp_path / "historian.csv"
    path.write_text("Tag,FIC101.PV,TI102.PV\nDescription,Feed flow,Reactor temperature\nUnits,m3/h,degC\n"
                    + frame.to_csv(header=False))
    result = run("fit", path, "--model", "deviation", "--time-column", "Tag", "--quiet")
    assert result.exit_code == 0, result.output
    assert "lines 2-3 (" in lines_of(result, "Warning")[0] and "--skip-rows 2" in lines_of(result, "Warning")[0]
    shown = run("fit", path, "--model", "deviation", "--time-column", "Tag", "--skip-rows", "1")
    assert "time column 'Tag' has 1 values that are not timestamps (first at row 3: 'Units')" in one_error(shown)


# ---- local times through the autumn clock change -----------------------------------------------------


def test_a_logger_on_local_time_through_the_autumn_clock_change(in_store, saved_model, tmp_path):
    """Every 10 minutes in Berlin's local time, without an offset: 02:00-02:50 is written twice on
    25 October. --timezone reads it as the instants it was; without it, one line says so."""
    instants = pd.date_range("2026-10-24 18:00", periods=400, freq="10min", tz="UTC")
    frame = readings(400, instants.tz_convert(BERLIN).tz_localize(None))
    path = tmp_path / "logger.csv"
    frame.to_csv(path, index_label="timestamp")
    assert "pass --timezone ZONE (the logger's, e.g. Europe/Berlin)" in one_error(run("fit", path, "--model",
                                                                                      "deviation"))
    fit(path, "--timezone", BERLIN)
    scores = tmp_path / "scores.csv"
    assert run("score", saved_model, path, "-o", scores, "--timezone", BERLIN).exit_code == 0
    written = pd.to_datetime(pd.read_csv(scores)["timestamp"])
    assert written.tolist() == instants.tolist()
    answers, _ = watch(saved_model, path.read_text(), "--timezone", BERLIN)
    assert [pd.Timestamp(a["timestamp"]) for a in answers] == instants.tolist()


# ---- repeated rows and times -------------------------------------------------------------------------


@pytest.fixture
def repeated(tmp_path):
    """NAB's way: a 5-minute series with a row written twice and a time written twice with other readings."""
    index = pd.date_range("2026-03-01", periods=300, freq="5min")
    frame = readings(300, index)
    rows = frame.to_csv(index_label="timestamp").splitlines()
    rows.insert(101, rows[100])  # an exact repeat (file line 101 again as line 102)
    stamp = rows[200].split(",")[0]
    rows.insert(201, f"{stamp},7.5,21.5")  # the same time, other readings
    path = tmp_path / "repeats.csv"
    path.write_text("\n".join(rows) + "\n")
    return path, frame


@pytest.mark.parametrize("policy", ["first", "last", "mean"])
def test_repeated_rows_are_refused_or_kept_as_the_duplicates_option_says(in_store, saved_model, repeated, tmp_path,
                                                                       policy):
    path, frame = repeated
    message = one_error(run("fit", path, "--model", "deviation"))
    assert "timestamp 2026-03-01 08:15:00 appears more than once (row 102 repeats it exactly, after row 101); " \
           "pass --duplicates first, last or mean to keep one row per time" in message
    fit(path, "--duplicates", policy)
    expected = pd.read_csv(path, index_col="timestamp", parse_dates=True).groupby(level=0)
    expected = getattr(expected, policy)()
    got = read_sensor_csv(path, duplicates=policy)
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=0, atol=1e-12)
    scores = tmp_path / "scores.csv"
    scored = run("score", saved_model, path, "-o", scores, "--duplicates", policy)
    assert scored.exit_code == 0 and "Scored 300 rows" in scored.stdout, scored.output
    assert pd.read_csv(scores)["timestamp"].is_unique
    answers, _ = watch(saved_model, path.read_text(), "--duplicates", policy)
    # a live feed answers a time once a later one has come, but `first`, which needs nothing later
    assert len(answers) == (300 if policy == "first" else 299)
    assert pd.Series([a["timestamp"] for a in answers]).is_unique


# ---- irregular readings onto a regular grid -------------------------------------------------------


def test_resample_puts_irregular_and_dense_readings_on_one_grid(in_store, tmp_path):
    """A logger writing every 20-100 s, at times of its own: --resample 1min gives the minute grid,
    each minute the mean of the readings within 30 s of it, or interpolated in time where none is."""
    rng = np.random.default_rng(3)
    times = pd.Timestamp("2026-03-01") + pd.to_timedelta(np.cumsum(rng.integers(20, 100, size=800)), unit="s")
    frame = readings(800, pd.DatetimeIndex(times))
    path = tmp_path / "irregular.csv"
    frame.to_csv(path, index_label="timestamp")
    model = fit(path, "--resample", "1min", "--train-until", "2026-03-01 06:00")
    grid = read_sensor_csv(path, resample="1min")
    assert (np.diff(grid.index.asi8) == 60 * 10 ** 9).all() and grid.index[0] >= frame.index[0]
    for minute in grid.index[[0, 5, 100, len(grid) - 1]]:
        near = frame[(frame.index >= minute - pd.Timedelta("30s")) & (frame.index < minute + pd.Timedelta("30s"))]
        if len(near):
            expected = near.mean().to_numpy()
        else:
            before, after = frame[frame.index < minute].iloc[-1], frame[frame.index > minute].iloc[0]
            weight = (minute - before.name) / (after.name - before.name)
            expected = (before + weight * (after - before)).to_numpy()
        np.testing.assert_allclose(grid.loc[minute].to_numpy(), expected, rtol=1e-12)
    scores = tmp_path / "scores.csv"
    scored = run("score", model, path, "-o", scores, "--resample", "1min", "--causal")
    assert scored.exit_code == 0, scored.output
    written = pd.read_csv(scores)
    assert pd.to_datetime(written["timestamp"]).tolist() == grid.index.tolist()
    answers, _ = watch(model, path.read_text(), "--resample", "1min")
    # each minute answered once a reading half a minute after it has come: all but the last
    assert [a["timestamp"] for a in answers] == grid.index[:len(answers)].map(pd.Timestamp.isoformat).tolist()
    assert len(grid) - 2 <= len(answers) < len(grid)
    np.testing.assert_array_equal([np.nan if a["score"] is None else a["score"] for a in answers],
                                  written["score"].to_numpy()[:len(answers)])


# ---- rows out of order ---------------------------------------------------------------------------


def test_fit_and_score_refuse_unsorted_rows_alike_and_sort_them_with_sort(in_store, saved_model, tmp_path):
    frame = readings(400, pd.date_range("2026-03-01", periods=400, freq="min"))
    path = tmp_path / "unsorted.csv"
    frame.iloc[np.r_[0:200, 250:300, 200:250, 300:400]].to_csv(path, index_label="timestamp")
    message = ("row 252 (2026-03-01 03:20:00) is earlier than the row above it (2026-03-01 04:59:00); rows must "
               "come in time order: sort the file by time, or pass --sort to sort it in memory")
    assert message in one_error(run("fit", path, "--model", "deviation"))
    assert message in one_error(run("score", saved_model, path, "-o", tmp_path / "scores.csv"))
    fit(path, "--sort")
    sorted_path = tmp_path / "sorted.csv"
    frame.to_csv(sorted_path, index_label="timestamp")
    for name, options in (("unsorted", ["--sort"]), ("sorted", [])):
        result = run("score", saved_model, tmp_path / f"{name}.csv", "-o", tmp_path / f"{name}.scores.csv", *options)
        assert result.exit_code == 0, result.output
    assert (tmp_path / "unsorted.scores.csv").read_text() == (tmp_path / "sorted.scores.csv").read_text()


# ---- a sensor named with a comma --------------------------------------------------------------------


def test_columns_takes_a_quoted_name_with_a_comma(in_store, tmp_path):
    frame = readings(300, pd.date_range("2026-03-01", periods=300, freq="min"),
                     columns=("Pressure, inlet", "Flow", "Pressure, outlet"))
    path = tmp_path / "plant.csv"
    frame.to_csv(path, index_label="timestamp")  # pandas quotes the names with a comma
    model = fit(path, "--columns", '"Pressure, inlet", Flow')
    scored = run("score", model, path, "-o", tmp_path / "scores.csv")
    assert scored.exit_code == 0, scored.output
    assert pd.read_csv(tmp_path / "scores.csv").columns[-2:].tolist() == ["contribution_Pressure, inlet",
                                                                          "contribution_Flow"]
    assert "has a quote that is not closed" in one_error(run("fit", path, "--columns", '"Pressure, inlet,Flow'))


# ---- compressed files ------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".gz", ".bz2", ".xz", ".zip"])
def test_a_compressed_export_reads_as_the_plain_file(in_store, saved_model, tmp_path, suffix):
    """A German export (`;`, decimal commas) compressed by pandas: the separator is sniffed from the
    decompressed text."""
    frame = readings(400, pd.date_range("2026-03-01", periods=400, freq="min", tz="UTC"))
    plain, packed = tmp_path / "export.csv", tmp_path / f"export.csv{suffix}"
    for path in (plain, packed):
        frame.to_csv(path, index_label="Zeitstempel", sep=";", decimal=",")
    fit(packed)
    for path in (plain, packed):
        scored = run("score", saved_model, path, "-o", tmp_path / f"{path.name}.scores.csv")
        assert scored.exit_code == 0, scored.output
    assert (tmp_path / f"{packed.name}.scores.csv").read_text() == (tmp_path / "export.csv.scores.csv").read_text()
    if suffix == ".gz":
        message = one_error(run("watch", saved_model, packed, "--no-track"))
        assert "a compressed file cannot be followed as it grows; pipe it in decompressed" in message
        answers, _ = watch(saved_model, gzip.decompress(packed.read_bytes()).decode())
        assert len(answers) == 400


# ---- sensors that say nothing -----------------------------------------------------------------------


def test_an_empty_sensor_is_left_out_with_a_warning_and_a_constant_one_is_named(in_store, tmp_path):
    frame = readings(300, pd.date_range("2026-03-01", periods=300, freq="min"))
    frame["Vibration"] = np.nan  # a sensor that logged nothing: empty cells
    frame["Valve"] = 1.0  # never moved in the training rows
    path = tmp_path / "sensors.csv"
    frame.to_csv(path, index_label="timestamp")
    result = run("fit", path, "--model", "deviation")
    assert result.exit_code == 0, result.output
    warned = lines_of(result, "Warning")
    assert any("column 'Vibration' is left out: no row has a reading in it" in w for w in warned), result.output
    # the constant one is not modelled, and the fit says so (seqae.data.roles)
    assert "columns: 3 columns: 2 continuous, 1 constant; modelled: 2, left out: Valve" in result.output
    message = one_error(run("fit", path, "--model", "deviation", "--columns", "Pressure,Vibration"))
    assert "column 'Vibration' has 300 missing or infinite values (first, missing, at row 2)" in message
