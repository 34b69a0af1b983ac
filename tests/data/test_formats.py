"""The ways loggers, databases and spreadsheets export the same readings, all read to the same frame.

One frame of two sensors is written in each format to a CSV in tmp_path; every file must read, by
`read_sensor_csv` and by chunked scoring (`score_csv`), to the frame and scores of the reference
file (ISO 8601 in UTC), and through the CLI with the options a user would pass. Then the formats
seqae refuses, each with its one line naming the option that fixes it.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest
from cli_store import in_fitted_store, run

from seqae.data import ReadOptions, RowParser, parse_timestamps, read_sensor_csv, read_table, read_training_data
from seqae.detectors import DeviationDetector
from seqae.errors import ConfigError, DataError, DataWarning
from seqae.streaming import score_csv
from seqae.streaming.feed import LineSource

N_ROWS, N_TRAIN = 600, 400
START = pd.Timestamp("2026-03-01 00:00:00", tz="UTC")
STAMPS = pd.DatetimeIndex(list(pd.date_range(START, periods=N_ROWS, freq="s")), name="timestamp").as_unit("ns")


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(N_ROWS, 2)).round(4)
    values[500:510, 1] += 8.0  # an anomaly, so that scores and intervals have something to show
    return pd.DataFrame(values, columns=["a", "b"], index=STAMPS)


def _rows(frame, stamp_text, sep=",", decimal=".", line_end="\n", trailing="", quote=False):
    def number(v):
        text = f"{v:.4f}".replace(".", decimal)
        return f'"{text}"' if quote else text

    return "".join(f"{sep.join([*stamp_text(t), number(a), number(b)])}{trailing}{line_end}"
                   for t, a, b in zip(frame.index, frame["a"], frame["b"]))


def _epoch(per_second):
    return lambda t: [str(t.value // (10 ** 9 // per_second))]


BERLIN, NEW_YORK = "Europe/Berlin", "America/New_York"

# name: (header, how a timestamp is written, CSV layout, read_sensor_csv keywords)
FORMATS = {
    "iso-utc-z": ("timestamp,a,b", lambda t: [t.strftime("%Y-%m-%dT%H:%M:%SZ")], {}, {}),
    "iso-offset-colon": ("timestamp,a,b", lambda t: [t.tz_convert("Etc/GMT-1").isoformat()], {}, {}),
    "iso-offset-compact": ("timestamp,a,b", lambda t: [t.tz_convert("Etc/GMT+5").strftime("%Y-%m-%dT%H:%M:%S%z")],
                           {}, {}),
    "epoch-seconds": ("timestamp,a,b", _epoch(1), {}, {}),
    "epoch-milliseconds": ("ts,a,b", _epoch(1000), {}, {}),
    "epoch-microseconds": ("time,a,b", _epoch(10 ** 6), {}, {}),
    "epoch-nanoseconds": ("_time,a,b", _epoch(10 ** 9), {}, {}),
    "epoch-seconds-given-unit": ("t,a,b", _epoch(1), {}, dict(time_column="t", time_unit="s")),
    "date-and-time-columns": ("date,time,a,b", lambda t: [t.strftime("%Y-%m-%d"), t.strftime("%H:%M:%S")], {},
                              dict(timezone="UTC")),
    "date-and-time-columns-named": ("Day,Clock,a,b", lambda t: [t.strftime("%Y-%m-%d"), t.strftime("%H:%M:%S")],
                                    {}, dict(time_column="Day,Clock", timezone="UTC")),
    "german-spreadsheet": ("Zeit;a;b", lambda t: [t.tz_convert(BERLIN).strftime("%d.%m.%Y %H:%M:%S")],
                           dict(sep=";", decimal=","), dict(timezone=BERLIN)),
    "german-tab-date-and-time": ("Datum\tUhrzeit\ta\tb",
                                 lambda t: [t.tz_convert(BERLIN).strftime("%d.%m.%Y"),
                                            t.tz_convert(BERLIN).strftime("%H:%M:%S")],
                                 dict(sep="\t", decimal=","), dict(timezone=BERLIN)),
    "us-month-first-local": ("DateTime,a,b", lambda t: [t.tz_convert(NEW_YORK).strftime("%m/%d/%Y %I:%M:%S %p")],
                             {}, dict(timezone=NEW_YORK, dayfirst=False)),
    "bom-crlf-trailing-sep-quoted": ("\ufefftimestamp,a,b,", lambda t: [t.strftime("%Y-%m-%dT%H:%M:%SZ")],
                                     dict(line_end="\r\n", trailing=",", quote=True), {}),
}


def write_format(frame, directory, name) -> str:
    header, stamp_text, layout, _ = FORMATS[name]
    path = directory / f"{name}.csv"
    line_end = layout.get("line_end", "\n")
    text = header + line_end + _rows(frame, stamp_text, **layout)
    path.write_bytes(text.encode("utf-8"))
    return str(path)


@pytest.fixture(scope="module")
def files(frame, tmp_path_factory):
    directory = tmp_path_factory.mktemp("formats")
    return {name: write_format(frame, directory, name) for name in FORMATS}


@pytest.fixture(scope="module")
def detector(frame):
    return DeviationDetector(smoothing=5).fit(frame.iloc[:N_TRAIN])


@pytest.fixture(scope="module")
def reference(detector, files, tmp_path_factory):
    """The scores and intervals of the ISO 8601 UTC file, scored whole."""
    detection = detector.detect(read_sensor_csv(files["iso-utc-z"]))
    alerts = detector.find_alerts(detection)
    directory = tmp_path_factory.mktemp("reference")
    detection.to_frame(alerts.alert_ids).to_csv(directory / "scores.csv")
    alerts.table.to_csv(directory / "intervals.csv", index=False)
    return _body(directory / "scores.csv"), (directory / "intervals.csv").read_text(), detection


def _body(path) -> str:
    """A scores CSV without its header line (whose first name is the file's time column)."""
    return path.read_text().split("\n", 1)[1]


@pytest.mark.parametrize("name", list(FORMATS))
def test_each_format_reads_to_the_same_frame(frame, files, name):
    read = FORMATS[name][3]
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)  # a regular series: no gap warning either
        got = read_sensor_csv(files[name], **read)
    pd.testing.assert_frame_equal(got.rename_axis("timestamp"), frame)
    assert str(got.index.tz) == "UTC"


@pytest.mark.parametrize("name", list(FORMATS))
def test_each_format_scores_in_chunks_as_the_reference_does(detector, files, reference, tmp_path, name):
    scores, intervals = tmp_path / "scores.csv", tmp_path / "intervals.csv"
    summary = score_csv(detector, files[name], scores, intervals_path=intervals, chunk_rows=97, quiet=True,
                        options=ReadOptions(**FORMATS[name][3]))
    body, intervals_text, detection = reference
    assert summary["rows"] == N_ROWS and summary["alerts"] == len(detector.find_alerts(detection).table)
    assert _body(scores) == body
    assert intervals.read_text() == intervals_text


def test_chunked_scoring_writes_the_whole_file_timestamps_in_utc(detector, files, reference, tmp_path):
    scores = tmp_path / "scores.csv"
    score_csv(detector, files["iso-utc-z"], scores, intervals_path=tmp_path / "intervals.csv", chunk_rows=50,
              quiet=True)
    body, intervals, detection = reference
    assert scores.read_text().split("\n", 1)[0].startswith("timestamp,score,raw_score,is_anomaly,")
    assert _body(scores) == body
    first = body.split("\n", 1)[0]
    assert first.startswith("2026-03-01 00:00:00+00:00,")
    assert (tmp_path / "intervals.csv").read_text() == intervals
    assert "+00:00" in intervals.split("\n")[1]  # start, end and peak time: UTC too


@pytest.mark.parametrize("name", list(FORMATS))
def test_a_one_row_reader_parses_each_row_as_the_file_reader_does(frame, files, name):
    """What a row-at-a-time reader (seqae watch) will do: settle the format on the first row, then
    parse every row alone with it."""
    raw = read_table(files[name])
    options = ReadOptions(**FORMATS[name][3]).settle(files[name], raw.iloc[:1])
    for row in (0, 1, 299, N_ROWS - 1):
        index = parse_timestamps(files[name], raw.iloc[row:row + 1], options, first_line=row + 2)
        assert index[0] == frame.index[row]


@pytest.mark.parametrize("name", list(FORMATS))
@pytest.mark.parametrize("one_by_one", [30, 0])
def test_the_live_feed_parses_each_format_as_the_file_reader_does(files, name, one_by_one):
    """`seqae watch`'s parser (lines split by hand, float() readings, parse_time_fields), fed the
    file's lines as its LineSource gives them: the first `one_by_one` rows a block each, then
    blocks of 97 rows; the same index (values, zone, name) and the same float64 readings."""
    expected = read_sensor_csv(files[name], **FORMATS[name][3])
    source = LineSource(files[name], from_start=True)
    parser = RowParser(files[name], source.header(), ["a", "b"], ReadOptions(**FORMATS[name][3]))
    lines = []
    while len(lines) < N_ROWS:
        lines += source.read()
    source.close()
    edges = list(range(one_by_one)) + list(range(one_by_one, N_ROWS, 97)) + [N_ROWS]
    pieces = [parser.parse(lines[first:stop]) for first, stop in zip(edges[:-1], edges[1:])]
    assert [p.errors for p in pieces if p.errors] == []
    index = pieces[0].index.append([p.index for p in pieces[1:]])
    pd.testing.assert_index_equal(index, expected.index, exact=True)
    np.testing.assert_array_equal(np.vstack([p.values for p in pieces]), expected.to_numpy())
    assert [line for p in pieces for line in p.lines] == list(range(2, N_ROWS + 2))


# ---- what decides on its own --------------------------------------------------------------------


def write(tmp_path, text: str, name: str = "sensors.csv") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_a_number_column_is_not_taken_for_time_unless_named_like_one(tmp_path):
    frame = read_sensor_csv(write(tmp_path, "counter,a\n1772323200,1\n1772323201,2\n1772323202,3\n"))
    assert isinstance(frame.index, pd.RangeIndex) and list(frame.columns) == ["counter", "a"]


def test_small_numbers_in_a_time_column_stay_numbers(tmp_path):
    frame = read_sensor_csv(write(tmp_path, "time,a\n0.5,1\n1.5,2\n2.5,3\n"))
    assert frame.index.tolist() == [0.5, 1.5, 2.5]
    as_epoch = read_sensor_csv(write(tmp_path, "time,a\n5,1\n6,2\n", "unit.csv"), time_unit="s")
    assert as_epoch.index[0] == pd.Timestamp("1970-01-01 00:00:05", tz="UTC")


@pytest.mark.parametrize("dates, day, month", [("13/03/2026", 13, 3), ("03/13/2026", 13, 3)])
def test_day_or_month_first_is_decided_by_a_date_that_tells(tmp_path, dates, day, month):
    text = f"timestamp,a\n01/03/2026 00:00,1\n{dates} 00:00,2\n"
    frame = read_sensor_csv(write(tmp_path, text))
    assert (frame.index[-1].day, frame.index[-1].month) == (day, month)


def test_dayfirst_decides_ambiguous_dates(tmp_path):
    path = write(tmp_path, "timestamp,a\n01/03/2026 00:00,1\n02/03/2026 00:00,2\n")
    assert read_sensor_csv(path, dayfirst=True).index[0].month == 3
    assert read_sensor_csv(path, dayfirst=False).index[0].month == 1


def test_different_offsets_across_a_daylight_saving_change_are_one_utc_series(tmp_path):
    text = "timestamp,a\n2026-03-29T01:59:00+01:00,1\n2026-03-29T03:00:00+02:00,2\n2026-03-29T03:01:00+02:00,3\n"
    frame = read_sensor_csv(write(tmp_path, text))
    assert (frame.index[1] - frame.index[0]) == pd.Timedelta(minutes=1)


def test_local_times_with_a_timezone_cross_the_spring_change(tmp_path):
    text = "timestamp,a\n2026-03-29 01:59:00,1\n2026-03-29 03:00:00,2\n"
    frame = read_sensor_csv(write(tmp_path, text), timezone=BERLIN)
    assert frame.index.tolist() == [pd.Timestamp("2026-03-29 00:59", tz="UTC"),
                                    pd.Timestamp("2026-03-29 01:00", tz="UTC")]


def test_a_gap_in_utc_timestamps_is_a_warning_not_a_traceback(tmp_path):
    stamps = [f"2026-03-01T00:00:{s:02d}Z" for s in range(40)] + ["2026-03-01T01:00:00Z"]
    path = write(tmp_path, "timestamp,a\n" + "".join(f"{t},{i % 5}\n" for i, t in enumerate(stamps)))
    with pytest.warns(DataWarning, match=r"1 gap in the timestamps .*the longest: 59 min 21 s before "
                                         r"2026-03-01 01:00:00\+00:00"):
        read_sensor_csv(path)


def test_train_until_on_utc_timestamps(tmp_path):
    text = "timestamp,a\n" + "".join(f"2026-03-01T00:0{m}:00Z,{m}\n" for m in range(6))
    path = write(tmp_path, text)
    assert len(read_training_data(path, train_until="2026-03-01 00:02").frame) == 3
    assert len(read_training_data(path, train_until="2026-03-01T01:03:00+01:00").frame) == 4
    local = read_training_data(write(tmp_path, text.replace("Z", ""), "local.csv"),
                                        train_until="2026-03-01 00:01", options=ReadOptions(timezone=BERLIN))
    assert len(local.frame) == 2 and local.options["timezone"] == BERLIN


# ---- what is refused, in one line naming the option ------------------------------------------------

REFUSALS = [
    ("timestamp,a\n2026-03-01T00:00:00Z,1\n2026-03-01T00:00:01Z,2\n2026-03-01 00:00:02,3\n", {},
     r"time column 'timestamp' mixes times with a UTC offset \(row 2: '2026-03-01T00:00:00Z'\) and without one "
     r"\(row 4: '2026-03-01 00:00:02'\); write every time with its offset, or every time without one \(and name "
     r"their zone with --timezone\)$"),
    ("timestamp,a\n2026-03-29 01:30:00,1\n2026-03-29 02:30:00,2\n", dict(timezone=BERLIN),
     r"time column 'timestamp' has '2026-03-29 02:30:00' at row 3, a time that does not exist in Europe/Berlin "
     r"\(the clocks skip it .*\); is --timezone Europe/Berlin the zone the logger kept\?"),
    ("timestamp,a\n2026-10-25 02:30:00,1\n2026-10-25 02:45:00,2\n2026-10-25 02:00:00,3\n", {},
     r"row 4 \(2026-10-25 02:00:00\) is earlier than the row above it \(2026-10-25 02:45:00\); rows must come in "
     r"time order: local times that step back 45 min as clocks do when summer time ends: pass --timezone ZONE "
     r"\(the logger's, e.g. Europe/Berlin\) to read them as instants, or sort the file by time, or pass --sort "
     r"to sort it in memory$"),
    ("timestamp,a\n01/03/2026 00:00,1\n02/03/2026 00:00,2\n", {},
     r"time column 'timestamp' has dates like '01/03/2026 00:00' \(row 2\) that read as day-first or month-first, "
     r"and no date in the file tells which; pass --dayfirst or --no-dayfirst$"),
    ("timestamp,a\n52000000000,1\n52000000001,2\n", {},
     r"time column 'timestamp' holds numbers from 52000000000 to 52000000001: neither epoch seconds, .* pass "
     r"--time-unit s, ms, us or ns to read them as epoch times, or --time-unit step to keep them as numbers$"),
    ("timestamp,a\n2026-03-01 00:00:00,1\n2026-03-01 00:00:01,2\n", dict(time_unit="s"),
     r"time column 'timestamp' holds epoch seconds, but 2 values are not numbers \(first at row 2: "
     r"'2026-03-01 00:00:00'\); write every time the same way, or check --time-unit$"),
    ('timestamp,a\n2026-03-01 00:00:00,"0,5"\n2026-03-01 00:00:01,"1,5"\n', {},
     r"no numeric sensor columns found among 'a'; .*: pass --decimal ,$"),
    ('timestamp,a,b\n2026-03-01 00:00:00,"0,5",1\n2026-03-01 00:00:01,"1,5",2\n', dict(columns=["a", "b"]),
     r"column 'a' has 2 non-numeric values \(first at row 2: '0,5'\); '0,5' has a decimal comma: pass --decimal , "
     r"to read decimal commas$"),
    ("Zeit;a\n01.03.2026 00:00:00;0,5\n01.03.2026 00:00:01;1.5\n", {},
     r"column 'a' has 1 non-numeric values \(first at row 3: '1.5'\); the file is read with decimal commas, and "
     r"'1.5' has a point: write every number one way, or pass --decimal \. if points are its decimals$"),
    ("date,time,a\n2026-03-01,00:00:00,1\n2026-03-01,noon,2\n", {},
     r"time columns 'date' and 'time' have 1 values that are not timestamps \(first at row 3: '2026-03-01 noon'\); "
     r"fix them or name another column with --time-column$"),
]


@pytest.mark.parametrize("text, read, message", REFUSALS)
def test_refusals_are_one_line_naming_the_option(tmp_path, text, read, message):
    path = write(tmp_path, text)
    with pytest.raises(DataError) as info:
        read_sensor_csv(path, **read)
    assert "\n" not in str(info.value) and str(info.value).startswith(f"{path}: ")
    assert re.search(message, str(info.value)), str(info.value)


@pytest.mark.parametrize("text, read, message", [
    ("timestamp,a\n2026-03-01T00:00:00Z,1\n", dict(timezone=BERLIN),
     r"^--timezone Europe/Berlin is for local times written without a UTC offset; the times in time column "
     r"'timestamp' of .* carry their own \('2026-03-01T00:00:00Z'\): leave --timezone out$"),
    ("timestamp,a\n1772323200,1\n", dict(timezone=BERLIN),
     r"^--timezone Europe/Berlin is for local times .* holds epoch seconds, which count from 1970 in UTC: "
     r"leave --timezone out$"),
    ("timestamp,a\n2026-03-01 00:00:00,1\n", dict(timezone="Mars/Olympus"),
     r"^--timezone 'Mars/Olympus' is not a time zone name; use one like Europe/Berlin"),
    ("timestamp,a\n2026-03-01 00:00:00,1\n", dict(time_column="date,time,zone"),
     r"^--time-column names one column, or a date and a time column \(date,time\); got"),
    ("timestamp,a\n2026-03-01 00:00:00,1\n", dict(decimal=";"), r"^--decimal must be '\.' or ',', got ';'$"),
    ("timestamp,a\n2026-03-01 00:00:00,1\n", dict(time_unit="minutes"),
     r"^--time-unit must be one of s, ms, us, ns, step, got 'minutes'$"),
])
def test_option_refusals_are_config_errors(tmp_path, text, read, message):
    with pytest.raises(ConfigError, match=message):
        read_sensor_csv(write(tmp_path, text), **read)


def test_chunked_scoring_refuses_a_change_from_utc_to_local_times_in_a_later_chunk(detector, frame, tmp_path):
    lines = _rows(frame, lambda t: [t.strftime("%Y-%m-%dT%H:%M:%SZ")]).splitlines(keepends=True)
    lines[300:] = [line.replace("Z,", ",", 1) for line in lines[300:]]  # from the fourth chunk on
    path = write(tmp_path, "timestamp,a,b\n" + "".join(lines))
    with pytest.raises(DataError, match=r"time column 'timestamp' mixes times with a UTC offset \(row 301: "
                                        r"'2026-03-01T00:04:59Z'\) and without one \(row 302: '2026-03-01T00:05:00'\)"):
        score_csv(detector, path, tmp_path / "out.csv", chunk_rows=100, quiet=True)
    assert not (tmp_path / "out.csv").exists()


# ---- through the command line ------------------------------------------------------------------------


@pytest.fixture
def in_store(tmp_path_factory, monkeypatch):
    return in_fitted_store(tmp_path_factory, monkeypatch)


@pytest.mark.parametrize("name, options", [
    ("german-spreadsheet", ["--timezone", BERLIN]),
    ("epoch-seconds", []),
    ("date-and-time-columns-named", ["--time-column", "Day,Clock", "--timezone", "UTC"]),
])
def test_fit_and_score_each_format_from_the_command_line(in_store, files, reference, tmp_path, name, options):
    fitted = run("fit", files[name], "--model", "deviation", "-p", "smoothing=5", "--train-rows", N_TRAIN,
                 "--quiet", *options)
    assert fitted.exit_code == 0, fitted.output
    model_uri = fitted.stdout.strip().splitlines()[-1]
    scores = tmp_path / "scores.csv"
    scored = run("score", model_uri, files[name], "-o", scores, *options)
    assert scored.exit_code == 0, scored.output
    assert _body(scores) == reference[0]


@pytest.mark.parametrize("text, options, message", [
    ("timestamp,a\n2026-10-25 02:30:00,1\n2026-10-25 02:45:00,2\n2026-10-25 02:00:00,3\n", [],
     "as clocks do when summer time ends: pass --timezone ZONE"),
    ("timestamp,a\n01/03/2026 00:00,1\n02/03/2026 00:00,2\n", [], "pass --dayfirst or --no-dayfirst"),
    ("timestamp,a\n2026-03-01 00:00:00,1\n", ["--timezone", "Mars/Olympus"], "is not a time zone name"),
])
def test_refusals_from_the_command_line(in_store, tmp_path, text, options, message):
    result = run("fit", write(tmp_path, text), "--model", "deviation", *options)
    assert result.exit_code in (1, 2) and "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and message in errors[0], result.output


# ---- pipeline files ----------------------------------------------------------------------------------


def _pipeline(tmp_path, data_keys: str):
    from seqae.pipeline import load_pipeline

    (tmp_path / "data").mkdir(exist_ok=True)
    toml = tmp_path / "german.toml"
    toml.write_text(f'[data]\ndirectory = "data"\nlabel_column = "anomaly"\n{data_keys}\n'
                    '[protocol]\ntrain_rows = 400\n\n[model]\ntype = "deviation"\n\n[run]\nseeds = [0]\n')
    return load_pipeline(toml)


def test_a_pipeline_reads_its_files_with_the_same_options(frame, tmp_path):
    from seqae.pipeline import read_data_file

    text = _rows(frame, lambda t: [t.tz_convert(BERLIN).strftime("%d.%m.%Y %H:%M:%S")], sep=";", decimal=",",
                 trailing=";0")
    path = tmp_path / "data" / "pump.csv"
    (tmp_path / "data").mkdir()
    path.write_text("Zeit;a;b;anomaly\n" + text)
    pipeline = _pipeline(tmp_path, f'timezone = "{BERLIN}"\ndecimal = ","\n')
    assert pipeline.read == ReadOptions(timezone=BERLIN, decimal=",")
    read, labels = read_data_file(pipeline, path)
    pd.testing.assert_frame_equal(read.rename_axis("timestamp"), frame)
    assert labels.sum() == 0


@pytest.mark.parametrize("keys, message", [
    ('time_unit = "minutes"', r"german.toml: \[data\] time_unit must be one of s, ms, us, ns, step, got 'minutes'$"),
    ('timezone = "Mars/Olympus"', r"german.toml: \[data\] timezone 'Mars/Olympus' is not a time zone name"),
    ("dayfirst = 1", r"german.toml: \[data\] dayfirst must be true or false, got 1$"),
])
def test_a_pipeline_refuses_bad_read_options(tmp_path, keys, message):
    with pytest.raises(ConfigError, match=message):
        _pipeline(tmp_path, keys + "\n")
