"""read_sensor_csv on real files in tmp_path: what it reads, and the one-line error for each bad input."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from seqae.data import Scaler, read_sensor_csv, time_gaps
from seqae.errors import ConfigError, DataError, DataWarning

GOOD = """timestamp,pressure,temperature,anomaly
2026-01-01 00:00:00,1.0,20.0,0
2026-01-01 00:00:01,1.5,20.5,0
2026-01-01 00:00:02,2.0,21.0,1
2026-01-01 00:00:03,2.5,21.5,0
"""


def write(tmp_path, text: str, name: str = "sensors.csv") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def read_error(path, **kwargs) -> str:
    """The message of the DataError reading `path` raises; it must be one line naming the file."""
    with pytest.raises(DataError) as info:
        read_sensor_csv(path, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ") or path in message
    return message


# ---- what it reads -------------------------------------------------------------------------------


def test_reads_a_comma_separated_file(tmp_path):
    frame, labels = read_sensor_csv(write(tmp_path, GOOD), label_columns=["anomaly"], return_labels=True)
    assert list(frame.columns) == ["pressure", "temperature"]
    assert frame.dtypes.tolist() == [np.float64, np.float64]
    assert isinstance(frame.index, pd.DatetimeIndex) and frame.index.name == "timestamp"
    assert frame.index[0] == pd.Timestamp("2026-01-01 00:00:00")
    assert frame["pressure"].tolist() == [1.0, 1.5, 2.0, 2.5]
    assert labels["anomaly"].tolist() == [0, 0, 1, 0]
    assert labels.index.equals(frame.index)


def test_reads_a_semicolon_separated_file_like_skab(tmp_path):
    text = "datetime;Accelerometer1RMS;Current;anomaly;changepoint\n" \
           "2020-03-09 10:14:33;0.0265878;1.3302;0.0;0.0\n" \
           "2020-03-09 10:14:34;0.0261697;1.35399;1.0;1.0\n"
    frame, labels = read_sensor_csv(write(tmp_path, text), label_columns=["anomaly", "changepoint"],
                                    return_labels=True)
    assert list(frame.columns) == ["Accelerometer1RMS", "Current"]
    assert frame.index.name == "datetime"
    assert frame["Current"].tolist() == [1.3302, 1.35399]
    assert labels.to_numpy().tolist() == [[0, 0], [1, 1]]


def test_the_separator_can_be_given(tmp_path):
    path = write(tmp_path, GOOD.replace(",", "|"))
    assert list(read_sensor_csv(path, sep="|").columns) == ["pressure", "temperature", "anomaly"]


def test_the_header_is_split_where_the_rows_are(tmp_path):
    """read_header (the columns checked before a read) splits at the separator the read sniffs."""
    from seqae.data import read_header, sniff_separator

    path = write(tmp_path, GOOD.replace(",", "|"))
    assert sniff_separator(path) == "," and read_header(path) == ["timestamp|pressure|temperature|anomaly"]
    assert read_header(path, "|") == ["timestamp", "pressure", "temperature", "anomaly"]
    assert read_header(write(tmp_path, GOOD.replace(",", ";"))) == ["timestamp", "pressure", "temperature", "anomaly"]


def test_label_columns_are_not_sensors_and_are_not_returned_unless_asked(tmp_path):
    frame = read_sensor_csv(write(tmp_path, GOOD), label_columns=["anomaly"])
    assert isinstance(frame, pd.DataFrame)
    assert "anomaly" not in frame.columns


def test_a_file_without_a_time_column_gets_a_row_index(tmp_path):
    frame = read_sensor_csv(write(tmp_path, "a,b\n1,2\n3,4\n5,6\n"))
    assert isinstance(frame.index, pd.RangeIndex) and frame.index.tolist() == [0, 1, 2]


def test_a_one_column_file(tmp_path):
    frame = read_sensor_csv(write(tmp_path, "pressure\n1\n2\n3\n"))
    assert list(frame.columns) == ["pressure"] and frame["pressure"].tolist() == [1.0, 2.0, 3.0]


def test_the_time_column_can_be_named(tmp_path):
    text = "when,a\n2026-01-01 00:00:02,3\n2026-01-01 00:00:00,1\n2026-01-01 00:00:01,2\n"
    path = write(tmp_path, text)
    found = read_sensor_csv(path)  # 'when' is not a name taken as the time: a text column, skipped
    assert isinstance(found.index, pd.RangeIndex) and list(found.columns) == ["a"]
    frame = read_sensor_csv(path, time_column="when", sort=True)
    assert frame.index.name == "when" and frame["a"].tolist() == [1.0, 2.0, 3.0]


def test_a_numeric_time_column_is_kept_as_numbers(tmp_path):
    frame = read_sensor_csv(write(tmp_path, "time,a\n10,1\n20,2\n30,3\n"))
    assert frame.index.tolist() == [10, 20, 30] and frame.index.name == "time"


def test_unsorted_rows_are_refused_naming_sort_which_sorts_them_with_their_labels(tmp_path):
    text = "timestamp,a,anomaly\n2026-01-01 00:00:02,3,1\n2026-01-01 00:00:00,1,0\n2026-01-01 00:00:01,2,0\n"
    path = write(tmp_path, text)
    assert read_error(path, label_columns=["anomaly"]) == (
        f"{path}: row 3 (2026-01-01 00:00:00) is earlier than the row above it (2026-01-01 00:00:02); rows must "
        "come in time order: sort the file by time, or pass --sort to sort it in memory")
    frame, labels = read_sensor_csv(path, label_columns=["anomaly"], return_labels=True, sort=True)
    assert frame.index.is_monotonic_increasing
    assert frame["a"].tolist() == [1.0, 2.0, 3.0]
    assert labels["anomaly"].tolist() == [0, 0, 1]


def test_timestamps_with_different_utc_offsets_are_read_as_utc(tmp_path):
    # a log across a daylight-saving change: 00:30+01:00 is 23:30 UTC, 00:00+02:00 is 22:00 UTC
    text = "timestamp,a\n2026-03-29T00:30:00+01:00,1\n2026-03-29T00:00:00+02:00,2\n"
    frame = read_sensor_csv(write(tmp_path, text), sort=True)
    assert frame["a"].tolist() == [2.0, 1.0]
    assert str(frame.index.tz) == "UTC"


def test_columns_picks_and_orders_the_sensors(tmp_path):
    frame = read_sensor_csv(write(tmp_path, GOOD), columns=["temperature", "pressure"])
    assert list(frame.columns) == ["temperature", "pressure"]


def test_text_columns_are_not_sensors(tmp_path):
    text = "timestamp,site,a\n2026-01-01 00:00:00,north,1\n2026-01-01 00:00:01,north,2\n"
    assert list(read_sensor_csv(write(tmp_path, text)).columns) == ["a"]


def test_usual_spellings_of_missing_are_missing_not_text(tmp_path):
    text = "a,b\n1,2\nNaN,3\nn/a,4\n,5\n6,7\n"
    frame = read_sensor_csv(write(tmp_path, text), fill="interpolate")
    assert frame["a"].tolist() == [1.0, 2.25, 3.5, 4.75, 6.0]


@pytest.mark.parametrize("fill, expected", [
    ("ffill", [1.0, 1.0, 1.0, 4.0, 4.0]),  # the last reading carried forward
    ("interpolate", [1.0, 2.0, 3.0, 4.0, 4.0]),  # linear between neighbours, held at the end
])
def test_fill_policies(tmp_path, fill, expected):
    text = "a,b\n1,0\n,0\ninf,0\n4,0\n-inf,0\n"
    assert read_sensor_csv(write(tmp_path, text), fill=fill)["a"].tolist() == expected


def test_leading_gaps_are_filled_backward(tmp_path):
    frame = read_sensor_csv(write(tmp_path, "a,b\n,0\n,0\n3,0\n"), fill="ffill")
    assert frame["a"].tolist() == [3.0, 3.0, 3.0]


def test_gaps_are_filled_from_neighbours_in_time_not_in_the_file(tmp_path):
    text = ("timestamp,a\n2026-01-01 00:00:03,10\n2026-01-01 00:00:00,1\n"
            "2026-01-01 00:00:01,\n2026-01-01 00:00:02,3\n")
    path = write(tmp_path, text)
    assert read_sensor_csv(path, fill="interpolate", sort=True)["a"].tolist() == [1.0, 2.0, 3.0, 10.0]
    assert read_sensor_csv(path, fill="ffill", sort=True)["a"].tolist() == [1.0, 1.0, 3.0, 10.0]


def test_a_gap_is_interpolated_by_time_not_by_row(tmp_path):
    text = "timestamp,a\n2026-01-01 00:00:00,0\n2026-01-01 00:00:01,\n2026-01-01 00:00:10,10\n"
    assert read_sensor_csv(write(tmp_path, text), fill="interpolate")["a"].tolist() == [0.0, 1.0, 10.0]
    numbers = "time,a\n0,0\n3,\n4,8\n"
    assert read_sensor_csv(write(tmp_path, numbers, "n.csv"), fill="interpolate")["a"].tolist() == [0.0, 6.0, 8.0]


# ---- one-line errors -----------------------------------------------------------------------------


def test_missing_file(tmp_path):
    path = str(tmp_path / "nope.csv")
    assert read_error(path) == f"{path}: no such file; check the path"


def test_a_directory_is_not_a_file(tmp_path):
    assert "is a directory" in read_error(str(tmp_path))


@pytest.mark.parametrize("text", ["", "\n\n"])
def test_empty_file(tmp_path, text):
    assert "the file is empty; expected a header line and rows of readings" in read_error(write(tmp_path, text))


def test_header_only(tmp_path):
    assert "has a header but no rows of readings" in read_error(write(tmp_path, "timestamp,a,b\n"))


def test_no_numeric_columns(tmp_path):
    path = write(tmp_path, "timestamp,site,state\n2026-01-01 00:00:00,north,ok\n")
    message = read_error(path)
    assert "no numeric sensor columns found among 'site', 'state'" in message


def test_only_labels_besides_the_time_is_no_sensor(tmp_path):
    path = write(tmp_path, "timestamp,anomaly\n2026-01-01 00:00:00,0\n")
    assert "no numeric sensor columns" in read_error(path, label_columns=["anomaly"])


def test_non_numeric_values_name_column_row_and_value(tmp_path):
    text = "timestamp,pressure,temperature\n2026-01-01 00:00:00,1.0,20\n" \
           "2026-01-01 00:00:01,abc,21\n2026-01-01 00:00:02,oops,22\n"
    path = write(tmp_path, text)
    assert read_error(path) == (
        f"{path}: column 'pressure' has 2 non-numeric values (first at row 3: 'abc'); "
        "clean them or leave the column out with --columns"
    )


@pytest.mark.parametrize("value, what", [("", "missing"), ("nan", "missing"), ("inf", "infinite"),
                                         ("-inf", "infinite")])
def test_missing_or_infinite_values_are_an_error_by_default(tmp_path, value, what):
    path = write(tmp_path, f"a,b\n1,2\n3,4\n5,{value}\n")
    assert read_error(path) == (
        f"{path}: column 'b' has 1 missing or infinite values (first, {what}, at row 4); "
        "clean them or pass --fill ffill or --fill interpolate"
    )


def test_missing_values_report_the_file_row_of_unsorted_data(tmp_path):
    text = "timestamp,a\n2026-01-01 00:00:02,3\n2026-01-01 00:00:00,1\n2026-01-01 00:00:01,\n"
    assert "(first, missing, at row 4)" in read_error(write(tmp_path, text), sort=True)


def test_a_short_row_is_a_missing_value(tmp_path):
    path = write(tmp_path, "a,b\n1,2\n3\n5,6\n")
    assert "column 'b' has 1 missing or infinite values (first, missing, at row 3)" in read_error(path)


def test_a_column_with_nothing_to_fill_from(tmp_path):
    path = write(tmp_path, "a,b\n1,\n2,\n")
    message = read_error(path, columns=["a", "b"], fill="ffill")
    assert "column 'b' has no finite value to fill from" in message


def test_duplicate_timestamps(tmp_path):
    text = "timestamp,a\n2026-01-01 00:00:00,1\n2026-01-01 00:00:01,2\n2026-01-01 00:00:00,3\n"
    path = write(tmp_path, text)
    assert read_error(path, sort=True) == (
        f"{path}: timestamp 2026-01-01 00:00:00 appears more than once (row 4 with other readings, after row 2); "
        "pass --duplicates first, last or mean to keep one row per time (local times repeat an hour when the "
        "clocks go back: pass --timezone ZONE to read them as instants)"
    )


def test_unreadable_timestamps(tmp_path):
    text = "timestamp,a\n2026-01-01 00:00:00,1\nyesterday,2\n"
    message = read_error(write(tmp_path, text))
    assert "time column 'timestamp' has 1 values that are not timestamps (first at row 3: 'yesterday')" in message


def test_an_empty_timestamp(tmp_path):
    message = read_error(write(tmp_path, "timestamp,a\n2026-01-01 00:00:00,1\n,2\n"))
    assert "time column 'timestamp' is empty at row 3" in message


def test_a_time_column_not_in_the_file(tmp_path):
    message = read_error(write(tmp_path, GOOD), time_column="clock")
    assert "time column 'clock' not found; the file has columns 'timestamp', 'pressure'" in message


def test_a_sensor_column_not_in_the_file(tmp_path):
    message = read_error(write(tmp_path, GOOD), columns=["pressure", "Pressure"])
    assert "column 'Pressure' not found; the file has columns 'timestamp', 'pressure', 'temperature', " \
           "'anomaly'; check --columns" in message


def test_a_label_column_not_in_the_file(tmp_path):
    message = read_error(write(tmp_path, GOOD), label_columns=["label"])
    assert "label column 'label' not found" in message


def test_an_empty_label(tmp_path):
    path = write(tmp_path, "a,anomaly\n1,0\n2,\n")
    assert "label column 'anomaly' is empty at row 3" in read_error(path, label_columns=["anomaly"],
                                                                    return_labels=True)


def test_a_label_column_of_other_values_than_0_and_1(tmp_path):
    """A sensor named as the label by mistake must not be read as 'anomalous wherever positive'."""
    path = write(tmp_path, "a,anomaly\n1,0\n2,1.0\n3,0.5\n4,2\n")
    message = read_error(path, label_columns=["anomaly"], return_labels=True)
    assert re.search(r"label column 'anomaly' has 2 values other than 0 and 1 \(first at row 4: '0.5'\); "
                     r"labels must be 0 \(normal\) or 1", message), message


def test_a_column_named_both_sensor_and_label(tmp_path):
    message = read_error(write(tmp_path, GOOD), columns=["pressure", "temperature"],
                         label_columns=["pressure"], return_labels=True)
    assert "column 'pressure' is named both as a sensor and as a label column" in message


def test_a_repeated_header_name(tmp_path):
    path = write(tmp_path, "a,b,a\n1,2,3\n")
    assert read_error(path) == f"{path}: column 'a' appears more than once in the header; rename one"


def test_an_empty_column_list(tmp_path):
    assert "columns= is empty" in read_error(write(tmp_path, GOOD), columns=[])


def test_an_unknown_fill_policy_is_a_config_error_before_reading(tmp_path):
    with pytest.raises(ConfigError, match="fill policy 'zero' is not one of error, ffill, interpolate"):
        read_sensor_csv(str(tmp_path / "not-even-there.csv"), fill="zero")


def test_a_ragged_file(tmp_path):
    message = read_error(write(tmp_path, "a,b\n1,2\n3,4,5,6\n"))
    assert re.search(r"not a readable CSV \(.*\); check the separator", message)


# ---- the scaler ----------------------------------------------------------------------------------


def test_scaler_standardises_with_training_statistics():
    train = np.array([[1.0, 10.0], [3.0, 10.0], [5.0, 10.0]])
    scaler = Scaler().fit(train)
    np.testing.assert_allclose(scaler.mean_, [3.0, 10.0])
    np.testing.assert_allclose(scaler.scale_, [np.std([1, 3, 5]), 1.0])  # a constant sensor: scale 1
    scaled = scaler.transform(train)
    assert scaled.dtype == np.float32
    np.testing.assert_allclose(scaled[:, 0], [-1.2247449, 0.0, 1.2247449], rtol=1e-6)
    np.testing.assert_allclose(scaled[:, 1], 0.0)
    np.testing.assert_allclose(scaler.inverse_transform(scaled), train, rtol=1e-6)


def test_a_robust_scale_falls_back_to_the_standard_deviation_where_the_iqr_is_degenerate():
    rng = np.random.default_rng(0)
    # A flow meter like SKAB's: half the rows at 32.000, a quarter a hair above, the rest on the
    # levels 31 and 33 (its IQR 0.001), beside a sensor with ordinary noise.
    flow = np.concatenate([np.full(200, 32.0), 32.0 + rng.uniform(0, 0.002, 100), rng.choice([31.0, 33.0], 100)])
    noise = rng.normal(50.0, 2.0, 400)
    scaler = Scaler().fit(np.column_stack([flow, noise]), method="robust")
    assert scaler.scale_[0] == pytest.approx(flow.std())  # not the IQR's 0.0007: a step of 1 is ~2 spreads
    q25, q75 = np.percentile(noise, [25, 75])
    assert scaler.scale_[1] == pytest.approx((q75 - q25) / 1.349)  # ordinary readings keep their IQR
    step = scaler.transform(np.array([[33.0, 52.0]]))[0]
    assert abs(step[0]) < 10 * abs(step[1])  # a normal step of either sensor, on one scale


def test_scaler_survives_readings_near_the_float_limit():
    train = np.array([[1.0], [2.0], [1e200]])
    scaler = Scaler().fit(train)
    assert np.isfinite(scaler.mean_).all() and np.isfinite(scaler.scale_).all()
    assert np.isfinite(scaler.transform(np.array([[1e308], [-1e308]]))).all()
    assert scaler.transform(np.array([[1e308]]))[0, 0] == np.float32(Scaler.CLIP)


def test_scaler_round_trips_through_json():
    scaler = Scaler().fit(np.random.default_rng(0).normal(size=(50, 3)))
    again = Scaler.from_dict(json.loads(json.dumps(scaler.to_dict())))
    np.testing.assert_array_equal(again.mean_, scaler.mean_)
    np.testing.assert_array_equal(again.scale_, scaler.scale_)


@pytest.mark.parametrize("state", [{"mean": [0.0, 1.0], "scale": [1.0]}, {"mean": [0.0], "scale": [0.0]},
                                   {"mean": [0.0], "scale": [float("nan")]}])
def test_a_damaged_scaler_state_is_a_data_error(state):
    with pytest.raises(DataError, match="scaler state is damaged"):
        Scaler.from_dict(state)


# ---- gaps in the timestamps ----------------------------------------------------------------------------

def _series_csv(tmp_path, stamps, name="gaps.csv") -> str:
    rows = "\n".join(f"{t},{i % 7}.5,{i % 3}.25" for i, t in enumerate(stamps))
    return write(tmp_path, "timestamp,pressure,temperature\n" + rows + "\n", name)


def test_a_long_gap_in_the_timestamps_is_one_warning_naming_it(tmp_path):
    stamps = list(pd.date_range("2026-01-01 00:00:00", periods=50, freq="s"))
    stamps += list(pd.date_range("2026-01-01 00:10:00", periods=30, freq="s"))   # 9 min 11 s later
    stamps += list(pd.date_range("2026-01-01 00:11:00", periods=20, freq="s"))   # 31 s later
    path = _series_csv(tmp_path, [str(t) for t in stamps])
    with pytest.warns(DataWarning) as caught:
        frame = read_sensor_csv(path)
    assert len(caught) == 1 and len(frame) == 100
    message = str(caught[0].message)
    assert message == (f"{path}: 2 gaps in the timestamps longer than 10 x the usual step of 1 s (the longest: "
                       "9 min 11 s before 2026-01-01 00:10:00); windows across a gap join readings from either "
                       "side as if adjacent: split the file at the gaps if that matters")
    assert time_gaps(frame.index).tolist() == [49, 79]


def test_regular_or_unstamped_rows_give_no_warning(tmp_path, recwarn):
    regular = [str(t) for t in pd.date_range("2026-01-01", periods=40, freq="min")]
    read_sensor_csv(_series_csv(tmp_path, regular, "regular.csv"))
    jittered = [str(pd.Timestamp("2026-01-01") + pd.Timedelta(seconds=i + (i % 3) * 0.4)) for i in range(40)]
    read_sensor_csv(_series_csv(tmp_path, jittered, "jittered.csv"))
    read_sensor_csv(write(tmp_path, "a,b\n" + "\n".join(f"{i},{i * 2}" for i in range(40)) + "\n", "rows.csv"))
    assert not [w for w in recwarn if issubclass(w.category, DataWarning)]


def test_a_numeric_time_column_has_gaps_too(tmp_path):
    steps = list(range(0, 30)) + list(range(500, 520))
    with pytest.warns(DataWarning, match=r": 1 gap in the timestamps longer than 10 x the usual step of 1 "
                                         r"\(the longest: 471 before 500\)"):
        read_sensor_csv(_series_csv(tmp_path, steps, "numeric.csv"))
