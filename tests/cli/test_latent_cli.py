"""`seqae encode`, `seqae decode` and `seqae sample` on real CSV files and a real fitted model in a
real MLflow store: the latent vectors are the model's, decoding gives back its reconstruction in the
sensors' units, sampling is the VAE's and seeded, and mistakes are one line."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cli_store import SENSORS, error_line, in_fitted_store, run

from seqae import tracking
from seqae.data import read_sensor_csv
from seqae.latent import windows_table
from seqae.windows import window_tensor


@pytest.fixture
def in_store(tmp_path_factory, monkeypatch):
    return in_fitted_store(tmp_path_factory, monkeypatch)


def test_encode_writes_the_models_latent_vector_of_every_window_with_its_end_time(in_store, tmp_path):
    out = tmp_path / "latent.csv"
    result = run("encode", in_store.model_uri, in_store.test_csv, "-o", out)
    assert result.exit_code == 0, result.output
    detector = tracking.load_detector(in_store.model_uri).detector
    frame = read_sensor_csv(in_store.test_csv, columns=SENSORS)
    latent = pd.read_csv(out)
    window = detector.window_size
    assert list(latent.columns) == ["window_end"] + [f"z{k}" for k in range(8)]
    assert len(latent) == len(frame) - window + 1
    assert f"to {len(latent)} latent vectors of 8 values" in result.stdout
    assert pd.to_datetime(latent["window_end"]).tolist() == list(frame.index[window - 1:])
    assert np.allclose(latent.filter(like="z").to_numpy(), detector.encode(frame), atol=1e-6)


def test_decode_gives_back_the_reconstruction_in_the_sensors_units(in_store, tmp_path):
    latent, windows = tmp_path / "latent.csv", tmp_path / "windows.csv"
    assert run("encode", in_store.model_uri, in_store.test_csv, "-o", latent).exit_code == 0
    result = run("decode", in_store.model_uri, latent, "-o", windows)
    assert result.exit_code == 0, result.output
    detector = tracking.load_detector(in_store.model_uri).detector
    frame = read_sensor_csv(in_store.test_csv, columns=SENSORS)
    table = pd.read_csv(windows)
    window = detector.window_size
    assert list(table.columns) == ["window", "window_end", "step", *SENSORS]
    n_windows = len(frame) - window + 1
    assert len(table) == n_windows * window and f"{n_windows} latent vectors to {len(table)} rows" in result.stdout
    # encode -> decode of a window is the reconstruction its score is computed from, scaling undone
    scaled = detector.scaler_.transform(frame.to_numpy())
    expected = detector.scaler_.inverse_transform(detector.window_reconstructions(window_tensor([scaled], window)))
    decoded = table[SENSORS].to_numpy().reshape(n_windows, window, len(SENSORS))
    assert np.allclose(decoded, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())
    # the last step of each window is the row at its end time, in the data's units
    last = table[table["step"] == window - 1]
    assert pd.to_datetime(last["window_end"]).tolist() == list(frame.index[window - 1:])
    assert np.abs(last[SENSORS].to_numpy() - frame.iloc[window - 1:].to_numpy()).mean() < frame.std().mean()


def test_sample_draws_seeded_windows_from_an_lstm_vae(in_store, tmp_path):
    fitted = run("fit", in_store.train_csv, "--label-column", "anomaly", "--model", "lstm-vae", "--window-size", 16,
                 "--hidden-size", 16, "--latent-dim", 4, "--epochs", 3, "--seed", 0, "-q")
    assert fitted.exit_code == 0, fitted.output
    uri = fitted.stdout.strip()
    first, again, other, mean = (tmp_path / f"{name}.csv" for name in ("first", "again", "other", "mean"))
    result = run("sample", uri, "-n", 5, "-o", first)
    assert result.exit_code == 0, result.output
    assert "Sampled 5 windows (80 rows)" in result.stdout
    table = pd.read_csv(first)
    assert list(table.columns) == ["window", "step", *SENSORS] and len(table) == 5 * 16
    assert run("sample", uri, "-n", 5, "-o", again).exit_code == 0
    assert run("sample", uri, "-n", 5, "-o", other, "--seed", 1).exit_code == 0
    assert run("sample", uri, "-n", 5, "-o", mean, "--mean").exit_code == 0
    assert pd.read_csv(again).equals(table)
    assert not pd.read_csv(other).equals(table)
    # in the sensors' units: the samples' levels are the training data's, not the scaled ones near 0
    train = read_sensor_csv(in_store.train_csv, columns=SENSORS)
    assert np.allclose(table[SENSORS].mean(), train.mean(), atol=3 * train.std().max())
    assert pd.read_csv(mean)[SENSORS].std().mean() < table[SENSORS].std().mean()  # the mean is smoother


@pytest.mark.parametrize("command, args, message", [
    ("sample", ["-n", "3"], "sampling needs a model that learnt a distribution (lstm-vae); this one is lstm-ae"),
    ("decode", ["LATENT"], "expected the model's 8 code columns (z0 .. z7), 8 missing (first: 'z0')"),
])
def test_mistakes_are_one_line(in_store, tmp_path, command, args, message):
    latent = tmp_path / "latent.csv"
    latent.write_text("window_end,a,b\n2026-01-01,1,2\n")
    args = [str(latent) if a == "LATENT" else a for a in args]
    result = run(command, in_store.model_uri, *args, "-o", tmp_path / "out.csv")
    assert result.exit_code != 0
    assert message in error_line(result)
    assert not (tmp_path / "out.csv").exists()


def test_a_model_without_an_encoder_is_refused_in_one_line(in_store, tmp_path):
    fitted = run("fit", in_store.train_csv, "--label-column", "anomaly", "--model", "deviation", "-q")
    assert fitted.exit_code == 0, fitted.output
    result = run("encode", fitted.stdout.strip(), in_store.test_csv, "-o", tmp_path / "latent.csv")
    assert result.exit_code == 2
    assert "has no encoder and decoder; fit one with --model lstm-ae" in error_line(result)
    assert not (tmp_path / "latent.csv").exists()


def test_windows_table_lays_windows_out_one_row_per_step():
    windows = np.arange(12.0).reshape(2, 3, 2)
    table = windows_table(windows, ["a", "b"], pd.Series(["t2", "t5"]))
    assert table["window"].tolist() == [0, 0, 0, 1, 1, 1]
    assert table["step"].tolist() == [0, 1, 2, 0, 1, 2]
    assert table["window_end"].tolist() == ["t2"] * 3 + ["t5"] * 3
    assert table[["a", "b"]].to_numpy().tolist() == windows.reshape(6, 2).tolist()
