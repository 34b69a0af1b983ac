"""Chunked CSV scoring gives, byte for byte, what scoring the whole file at once gives.

The reference is `detect(read_sensor_csv(...))` written with the same `to_csv` calls; the batch of
windows fed to the net is shrunk to 16 so that several batches, and their edges, fall inside these
small files and across chunk edges.
"""

from __future__ import annotations

import os
import stat

import numpy as np
import pandas as pd
import pytest

from seqae.detectors import scoring
from seqae.data import read_sensor_csv
from seqae.detectors import LSTMAutoencoder, make_detector
from seqae.errors import ConfigError, DataError
from seqae.streaming import score_csv
from seqae.synthetic import make_sensor_data
from seqae.windows import WindowAccumulator

N_ROWS, N_TRAIN, WINDOW = 400, 200, 8
CHUNKS = [1, 5, WINDOW - 1, 37, 100, 10_000]


@pytest.fixture(autouse=True)
def _small_batches(monkeypatch):
    monkeypatch.setattr(scoring, "SCORE_BATCH", 16)


@pytest.fixture(scope="module")
def series():
    frame, _, _ = make_sensor_data(N_ROWS, 3, normal_rows=N_TRAIN, anomalies=("spike", "level_shift"),
                                   anomaly_length=30, random_state=2)
    frame.index.name = "timestamp"
    return frame


@pytest.fixture(scope="module")
def csv_file(series, tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "sensors.csv"
    series.to_csv(path)
    return path


def _lstm(**params):
    return LSTMAutoencoder(window_size=WINDOW, hidden_size=8, latent_dim=4, epochs=2, learning_rate=0.01,
                           random_state=0, **params)


@pytest.fixture(scope="module")
def fitted(series):
    """One tiny LSTM-AE fitted on the first rows; tests set score_stride/score_reduction on it."""
    return _lstm().fit(series.iloc[:N_TRAIN])


def whole_file(detector, path, tmp_path, **read):
    """The reference: the whole file read, scored once, written as score_csv writes it."""
    detection = detector.detect(read_sensor_csv(path, columns=list(detector.feature_names_in_), **read))
    alerts = detector.find_alerts(detection)
    scores, intervals = tmp_path / "whole_scores.csv", tmp_path / "whole_intervals.csv"
    detection.to_frame(alerts.alert_ids).to_csv(scores)
    alerts.table.to_csv(intervals, index=False)
    return scores.read_text(), intervals.read_text(), detection


def chunked(detector, path, tmp_path, chunk_rows, **read):
    scores, intervals = tmp_path / f"scores_{chunk_rows}.csv", tmp_path / f"intervals_{chunk_rows}.csv"
    summary = score_csv(detector, path, scores, intervals_path=intervals, chunk_rows=chunk_rows, quiet=True,
                        **read)
    return scores.read_text(), intervals.read_text(), summary


@pytest.mark.parametrize("reduction", ["mean", "last", "window"])
@pytest.mark.parametrize("stride", [1, 3, WINDOW])
def test_chunked_equals_whole_file(fitted, csv_file, tmp_path, reduction, stride):
    fitted.set_params(score_stride=stride, score_reduction=reduction)
    scores, intervals, detection = whole_file(fitted, csv_file, tmp_path)
    assert (detection.scores > 1.0).sum() > 0, "the injected anomalies should score above the threshold"
    # One-row chunks (400 reads of one row, most of this test's time) once per stride, with `mean`:
    # the reduction that carries a window's errors furthest across chunk edges.
    for chunk_rows in CHUNKS if reduction == "mean" else CHUNKS[1:]:
        got_scores, got_intervals, summary = chunked(fitted, csv_file, tmp_path, chunk_rows)
        assert got_scores == scores, f"chunk_rows={chunk_rows}"
        assert got_intervals == intervals, f"chunk_rows={chunk_rows}"
        assert summary["rows"] == N_ROWS
        assert summary["anomalies"] == int(detection.flags.sum())
        # (the threshold was fitted for the default reduction; this two-epoch net's smoother `mean` and
        # `window` scores spread the level shift thin, and `last` alone raises an alert on it)
        assert summary["alerts"] == len(fitted.find_alerts(detection).table) >= (reduction == "last")


def test_series_not_a_multiple_of_the_stride(fitted, csv_file, tmp_path, series):
    """An extra window ends on the last row when the stride does not land there."""
    path = tmp_path / "odd.csv"
    series.iloc[:N_ROWS - 2].to_csv(path)
    fitted.set_params(score_stride=3, score_reduction="mean")
    scores, _, _ = whole_file(fitted, path, tmp_path)
    for chunk_rows in (4, 50, 397):
        assert chunked(fitted, path, tmp_path, chunk_rows)[0] == scores


@pytest.mark.parametrize("model_type, params", [
    ("pca", dict(window_size=4, n_components=2)),
    ("iforest", dict(window_size=4, n_estimators=10, random_state=0)),
    ("lstm-vae", dict(window_size=WINDOW, hidden_size=8, latent_dim=4, epochs=1, random_state=0)),
])
def test_other_detector_kinds_stream(series, csv_file, tmp_path, model_type, params):
    detector = make_detector(model_type, **params).fit(series.iloc[:N_TRAIN])
    scores, intervals, _ = whole_file(detector, csv_file, tmp_path)
    assert chunked(detector, csv_file, tmp_path, 9)[:2] == (scores, intervals)


@pytest.mark.parametrize("fill", ["ffill", "interpolate"])
def test_gaps_filled_as_in_a_whole_file_read(fitted, series, tmp_path, fill):
    """Gaps at the start, at the end, and one running across several chunks, filled the same way."""
    frame = series.copy()
    frame.iloc[:3, 0] = np.nan  # before the first reading of a sensor
    frame.iloc[100:160, 1] = np.nan  # a long gap across chunk edges
    frame.iloc[250, 2] = np.inf
    frame.iloc[-4:, 2] = np.nan  # after the last reading
    path = tmp_path / "gaps.csv"
    frame.to_csv(path)
    fitted.set_params(score_stride=1, score_reduction="mean")
    scores, intervals, _ = whole_file(fitted, path, tmp_path, fill=fill)
    for chunk_rows in (1, 7, 45, 1000):
        got_scores, got_intervals, _ = chunked(fitted, path, tmp_path, chunk_rows, fill=fill)
        assert got_scores == scores, f"chunk_rows={chunk_rows}"
        assert got_intervals == intervals


def test_a_sensor_never_read_is_the_whole_file_error(fitted, series, tmp_path):
    frame = series.copy()
    frame.iloc[:, 1] = np.nan
    path = tmp_path / "silent.csv"
    frame.to_csv(path)
    with pytest.raises(DataError) as whole:
        read_sensor_csv(path, columns=list(fitted.feature_names_in_), fill="ffill")
    with pytest.raises(DataError) as streamed:
        score_csv(fitted, path, tmp_path / "out.csv", chunk_rows=50, fill="ffill", quiet=True)
    assert str(streamed.value) == str(whole.value)


def _bad_file(series, tmp_path, row, column, text):
    frame = series.astype(object)
    frame.iloc[row, column] = text
    path = tmp_path / "bad.csv"
    frame.to_csv(path)
    return path


@pytest.mark.parametrize("row, column, text", [(333, 1, "n/a"), (290, 0, "12,5 bar")])
def test_a_bad_value_in_a_late_chunk_is_the_whole_file_error(fitted, series, tmp_path, row, column, text):
    path = _bad_file(series, tmp_path, row, column, text)
    with pytest.raises(DataError) as whole:
        read_sensor_csv(path)
    with pytest.raises(DataError) as streamed:
        score_csv(fitted, path, tmp_path / "out.csv", chunk_rows=50, quiet=True)
    assert str(streamed.value) == str(whole.value)
    assert f"row {row + 2}" in str(streamed.value)


def _assert_nothing_written(tmp_path):
    left = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith((".out", "out")))
    assert left == []


def test_rows_out_of_time_order_stop_with_a_row_number(fitted, series, tmp_path):
    frame = series.copy()
    order = np.arange(N_ROWS)
    order[[300, 301]] = [301, 300]
    path = tmp_path / "swapped.csv"
    frame.iloc[order].to_csv(path)
    with pytest.raises(DataError, match=r"row 303 .* is earlier than the row above it .*sort the file"):
        score_csv(fitted, path, tmp_path / "out.csv", chunk_rows=301, quiet=True)
    _assert_nothing_written(tmp_path)


def test_a_repeated_timestamp_is_the_whole_file_error(fitted, series, tmp_path):
    frame = series.copy()
    frame.index = frame.index.where(np.arange(N_ROWS) != 120, frame.index[119])
    path = tmp_path / "repeated.csv"
    frame.to_csv(path)
    with pytest.raises(DataError) as whole:
        read_sensor_csv(path)
    with pytest.raises(DataError) as streamed:
        score_csv(fitted, path, tmp_path / "out.csv", chunk_rows=120, quiet=True)  # repeat across an edge
    assert str(streamed.value) == str(whole.value)


def test_missing_sensor_column(fitted, series, tmp_path):
    path = tmp_path / "two.csv"
    series.drop(columns=series.columns[1]).to_csv(path)
    with pytest.raises(DataError, match=rf"column '{series.columns[1]}' that the model was fitted on is missing"):
        score_csv(fitted, path, tmp_path / "out.csv", quiet=True)
    _assert_nothing_written(tmp_path)


def test_fewer_rows_than_a_window(fitted, series, tmp_path):
    path = tmp_path / "short.csv"
    series.iloc[:WINDOW - 1].to_csv(path)
    with pytest.raises(DataError, match=rf"has {WINDOW - 1} rows, fewer than one window"):
        score_csv(fitted, path, tmp_path / "out.csv", chunk_rows=2, quiet=True)
    _assert_nothing_written(tmp_path)


def test_a_failure_leaves_the_previous_output_untouched(fitted, series, tmp_path):
    out = tmp_path / "out.csv"
    out.write_text("previous\n")
    path = _bad_file(series, tmp_path, 390, 2, "oops")
    with pytest.raises(DataError):
        score_csv(fitted, path, out, chunk_rows=40, quiet=True)
    assert out.read_text() == "previous\n"
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".part"] == []


@pytest.mark.parametrize("kwargs, message", [
    (dict(chunk_rows=0), "chunk_rows must be a positive integer"),
    (dict(fill="zero"), "fill policy 'zero' is not one of"),
])
def test_bad_options(fitted, csv_file, tmp_path, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        score_csv(fitted, csv_file, tmp_path / "out.csv", quiet=True, **kwargs)


@pytest.mark.parametrize("where, message", [
    ("nowhere/out.csv", "does not exist; create it first"),
    ("a_directory", "is a directory; give a file name"),
    ("sensors.csv", "is the input file"),
])
def test_output_paths_checked_before_any_work(fitted, csv_file, where, message):
    (csv_file.parent / "a_directory").mkdir(exist_ok=True)
    with pytest.raises(ConfigError, match=message):
        score_csv(fitted, csv_file, csv_file.parent / where, quiet=True)


def test_outputs_get_the_permissions_of_an_ordinary_new_file(fitted, csv_file, tmp_path):
    out = tmp_path / "out.csv"
    score_csv(fitted, csv_file, out, quiet=True)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask


def test_progress_bar_on_a_terminal_unless_quiet(fitted, csv_file, tmp_path, terminal):
    stderr = terminal()
    score_csv(fitted, csv_file, tmp_path / "out.csv", chunk_rows=100, quiet=True)
    assert stderr.getvalue() == ""
    score_csv(fitted, csv_file, tmp_path / "out.csv", chunk_rows=100)
    assert "rows" in stderr.getvalue()


def test_no_progress_bar_in_a_log_file(fitted, csv_file, tmp_path, capsys):
    """stderr redirected to a file or pipe: no bar, so an error message starts its own line."""
    score_csv(fitted, csv_file, tmp_path / "out.csv", chunk_rows=100)
    assert capsys.readouterr().err == ""


def test_a_saved_model_folder_gets_the_permissions_of_an_ordinary_new_folder(fitted, tmp_path):
    fitted.save(tmp_path / "model")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((tmp_path / "model").stat().st_mode) == 0o777 & ~umask


def test_rolling_accumulator_equals_one_that_holds_every_row():
    """extend/add/pop in pieces gives the rows an accumulator over the whole series gives for the
    same batches, bit for bit (the batches decide the order of the sums, the rolling does not)."""
    rng = np.random.default_rng(0)
    n, window = 50, 6
    starts = np.arange(0, n - window + 1, 2)
    values = rng.normal(size=(len(starts), window, 2))
    for reduction in ("mean", "last"):
        whole = WindowAccumulator(n, window, (2,), reduction)
        rolling = WindowAccumulator(0, window, (2,), reduction)
        rolling.extend(n)
        pieces = []
        for first in range(0, len(starts), 5):
            whole.add(values[first:first + 5], starts[first:first + 5])
            rolling.add(values[first:first + 5], starts[first:first + 5])
            done = starts[first + 5] if first + 5 < len(starts) else n
            pieces.append(rolling.pop(done - rolling.first_row))
        np.testing.assert_array_equal(np.concatenate(pieces), whole.result())
        one_pass = WindowAccumulator(n, window, (2,), reduction)
        one_pass.add(values, starts)
        np.testing.assert_allclose(np.concatenate(pieces), one_pass.result(), rtol=1e-12)


# ---- bfloat16 scoring ----------------------------------------------------------------------------------

@pytest.mark.parametrize("model_type", ["lstm-ae", "lstm-vae", "dense-ae", "conv-ae"])
def test_bfloat16_scores_are_close_to_float32_and_chunking_still_changes_nothing(model_type, series, csv_file,
                                                                                   tmp_path):
    params = dict(window_size=8, hidden_size=8, latent_dim=4, epochs=2, random_state=0)
    detector = make_detector(model_type, **params).fit(series.iloc[:N_TRAIN])
    exact = detector.anomaly_score(series)
    if not detector.supports_precision("bfloat16"):  # a CPU without bfloat16 kernels: refused in one line
        with pytest.raises(ConfigError, match=f"this CPU cannot run model '{model_type}' in bfloat16 .*; "
                                              "score it in float32$"):
            score_csv(detector, csv_file, tmp_path / "scores.csv", quiet=True, precision="bfloat16")
        assert list(tmp_path.iterdir()) == []
        pytest.skip(f"this CPU has no bfloat16 kernels for {model_type}: the refusal was checked instead")
    with detector.scoring_precision("bfloat16"):
        reduced = detector.anomaly_score(series)
        whole = detector.detect(series)
    assert not np.array_equal(reduced, exact)  # the forward pass did run in bfloat16
    assert np.corrcoef(reduced, exact)[0, 1] > 0.999
    np.testing.assert_allclose(reduced, exact, atol=0.1 * exact.std())
    np.testing.assert_array_equal(detector.anomaly_score(series), exact)  # float32 again after the block

    out = tmp_path / "scores.csv"
    score_csv(detector, csv_file, out, chunk_rows=37, quiet=True, precision="bfloat16")
    chunked = pd.read_csv(out)
    np.testing.assert_array_equal(chunked["score"].to_numpy(), whole.scores)
    np.testing.assert_array_equal(chunked["is_anomaly"].to_numpy(), whole.flags)


def test_precision_is_checked_before_anything_is_written(fitted, csv_file, tmp_path):
    with pytest.raises(ConfigError, match="precision must be one of float32, bfloat16, got 'float16'"):
        score_csv(fitted, csv_file, tmp_path / "out.csv", precision="float16")
    pca = make_detector("pca").fit(pd.read_csv(csv_file, index_col=0).iloc[:N_TRAIN])
    with pytest.raises(ConfigError, match="model 'pca' has no network to run in bfloat16; score it in float32"):
        score_csv(pca, csv_file, tmp_path / "out.csv", precision="bfloat16")
    assert list(tmp_path.iterdir()) == []


def test_smoothed_scores_of_a_long_file_are_identical_in_chunks(tmp_path):
    """20,000 rows, a 20-row smoothing, chunks of 777 rows: the rolling mean of each row is summed on
    its own, so the chunked scores equal the whole file's to the last bit (a running cumulative
    sum differed by ~1e-13 here)."""
    frame, _, _ = make_sensor_data(20_000, 4, random_state=0)
    frame.index.name = "timestamp"
    path = tmp_path / "long.csv"
    frame.to_csv(path)
    detector = make_detector("deviation", smoothing=20).fit(frame.iloc[:5000])
    scores, intervals, _ = whole_file(detector, path, tmp_path)
    assert chunked(detector, path, tmp_path, 777)[:2] == (scores, intervals)
