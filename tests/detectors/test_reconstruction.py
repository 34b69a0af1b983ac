"""The encoder/decoder split of every neural detector: `encode`, `decode`, `reconstruct`, and the
LSTM-VAE's `sample`, held to one contract.

- `encode` gives exactly `latent_dim` values per window;
- encode -> decode of the training windows reconstructs them with exactly the error the scores
  report (in scaled units: the squared error, or the VAE's -log p(x | z));
- `decode` answers in the sensors' units, and a window's decoding does not depend on its batch;
- `reconstruct` of normal rows is close to them and of an injected spike is not; it survives
  save -> load, and `score_csv(..., reconstruction_path=...)` in chunks writes exactly it;
- the VAE's samples from the prior have the training rows' per-sensor mean and spread.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import N_NORMAL, NEURAL_TYPES, tiny_params

from seqae import nets
from seqae.detectors import DETECTORS, BaseDetector, make_detector
from seqae.errors import ConfigError, DataError, NotFittedError
from seqae.streaming import score_csv
from seqae.windows import pad_batch, window_tensor


# The detectors with an encoder and a decoder (a network trained to reconstruct its windows).
AUTOENCODER_TYPES = [m for m in NEURAL_TYPES if hasattr(DETECTORS[m], "decode")]


def training_windows(det, train_frame) -> torch.Tensor:
    """The windows `encode` and the scores see, every `score_stride` rows, scaled."""
    return window_tensor(det.scaler_.transform(train_frame.to_numpy()), det.window_size, det.score_stride)


@pytest.mark.parametrize("model_type", AUTOENCODER_TYPES)
def test_encode_gives_latent_dim_values_per_window(fitted_detectors, train_frame, model_type):
    det = fitted_detectors[model_type]
    z = det.encode(train_frame)
    assert z.shape == (N_NORMAL - det.window_size + 1, det.latent_dim)
    assert z.dtype == np.float32


@pytest.mark.parametrize("model_type", AUTOENCODER_TYPES)
def test_encode_then_decode_has_exactly_the_error_the_scores_report(fitted_detectors, train_frame, model_type):
    det = fitted_detectors[model_type]
    windows = training_windows(det, train_frame)
    decoded = det.decode(det.encode(train_frame), scaled=True)  # (n_windows, window, n_features)
    assert decoded.shape == tuple(windows.shape)
    if model_type == "lstm-vae":  # the score is -log N(x | decoder mean, decoder variance) at the mean latent
        z = torch.from_numpy(det.encode(train_frame))
        with torch.inference_mode():
            _, logvar = det.net_.decode(pad_batch(z, det.batch_quantum), det.window_size)
        error = nets.gaussian_nll(windows, torch.from_numpy(decoded), logvar[:len(z)]).numpy()
    else:
        error = (decoded - windows.numpy()) ** 2
    np.testing.assert_array_equal(error, det.window_scores(windows))


@pytest.mark.parametrize("model_type", AUTOENCODER_TYPES)
def test_decode_answers_in_sensor_units_whatever_the_batch(fitted_detectors, train_frame, model_type):
    det = fitted_detectors[model_type]
    z = det.encode(train_frame)
    readings = det.decode(z)
    np.testing.assert_array_equal(readings, det.scaler_.inverse_transform(det.decode(z, scaled=True)))
    # in sensor units: the decoded windows' per-sensor mean is near the data's, not near 0
    np.testing.assert_allclose(readings.mean(axis=(0, 1)), train_frame.mean().to_numpy(),
                               atol=0.5 * float(train_frame.std().min()))
    for rows in (slice(0, 1), slice(3, 8), slice(100, 131)):  # alone, a few, not a multiple of 16
        np.testing.assert_array_equal(det.decode(z[rows]), readings[rows])


@pytest.mark.parametrize("model_type", AUTOENCODER_TYPES)
def test_reconstruct_is_close_on_normal_rows_and_not_on_a_spike(fitted_detectors, sensor_data, model_type):
    frame, _, injected = sensor_data
    det = fitted_detectors[model_type]
    expected = det.reconstruct(frame)
    assert list(expected.columns) == list(frame.columns)
    assert expected.index.equals(frame.index)
    error = (expected - frame).abs()
    spread = frame.iloc[:N_NORMAL].std()
    # normal rows: off by under half a standard deviation of their sensor on average
    assert (error.iloc[:N_NORMAL].mean() < 0.5 * spread).all(), error.iloc[:N_NORMAL].mean() / spread
    spike = next(a for a in injected if a.kind == "spike")
    # the spike: the model expected a normal reading, off by more than 10x the usual error
    off = error[spike.sensor].iloc[spike.start]
    assert off > 10 * error[spike.sensor].iloc[:N_NORMAL].mean(), off


@pytest.mark.parametrize("model_type", AUTOENCODER_TYPES)
def test_reconstruct_survives_save_and_load(fitted_detectors, frame, model_type, tmp_path):
    det = fitted_detectors[model_type]
    loaded = BaseDetector.load(det.save(tmp_path / "model"))
    pd.testing.assert_frame_equal(loaded.reconstruct(frame), det.reconstruct(frame))


@pytest.mark.parametrize("model_type", AUTOENCODER_TYPES)
def test_chunked_reconstruction_equals_the_whole_file(fitted_detectors, frame, model_type, tmp_path):
    det = fitted_detectors[model_type]
    path = tmp_path / "data.csv"
    frame.to_csv(path, index_label="timestamp")
    recon = tmp_path / "recon.csv"
    score_csv(det, path, tmp_path / "scores.csv", reconstruction_path=recon, chunk_rows=97, quiet=True)
    written = pd.read_csv(recon, index_col=0)
    expected = det.reconstruct(frame)
    assert list(written.columns) == list(frame.columns)
    # the CSV holds the float64 values as written by pandas (round-trip exact)
    np.testing.assert_array_equal(written.to_numpy(), expected.to_numpy())


def test_score_stride_and_last_reduction_reconstruct_in_chunks_alike(make_tiny, train_frame, frame, tmp_path):
    det = make_tiny("lstm-ae", score_stride=5, score_reduction="last").fit(train_frame)
    path = tmp_path / "data.csv"
    frame.to_csv(path, index_label="timestamp")
    score_csv(det, path, tmp_path / "scores.csv", reconstruction_path=tmp_path / "r.csv", chunk_rows=61, quiet=True)
    np.testing.assert_array_equal(pd.read_csv(tmp_path / "r.csv", index_col=0).to_numpy(),
                                  det.reconstruct(frame).to_numpy())


def test_the_vae_samples_look_like_the_training_data(make_tiny, train_frame):
    """Windows drawn from the prior (latent ~ N(0, I), then the decoder's Gaussian): each sensor's
    mean within 0.25 of its standard deviation, its spread within 30 % of the data's."""
    det = make_tiny("lstm-vae", epochs=15).fit(train_frame)
    samples = det.sample(400)
    assert samples.shape == (400, det.window_size, train_frame.shape[1])
    mean, spread = train_frame.mean().to_numpy(), train_frame.std().to_numpy()
    assert (np.abs(samples.mean(axis=(0, 1)) - mean) < 0.25 * spread).all(), (samples.mean(axis=(0, 1)), mean)
    ratio = samples.std(axis=(0, 1)) / spread
    assert ((ratio > 0.7) & (ratio < 1.3)).all(), ratio
    np.testing.assert_array_equal(det.sample(400), samples)  # seeded
    smooth = det.sample(400, noise=False)  # the decoder's means: smoother than data
    assert (smooth.std(axis=(0, 1)) <= samples.std(axis=(0, 1))).all()


def test_decode_and_sample_refuse_what_they_cannot_use(fitted_detectors, make_tiny):
    det = fitted_detectors["lstm-ae"]
    with pytest.raises(DataError, match=r"latent vectors of shape \(n_windows, 8\), got an array of shape \(4, 3\)"):
        det.decode(np.zeros((4, 3)))
    with pytest.raises(ConfigError, match="n must be a whole number of windows >= 1, got 0"):
        fitted_detectors["lstm-vae"].sample(0)
    unfitted = make_tiny("conv-ae")
    for call in (lambda: unfitted.decode(np.zeros((1, 8))), lambda: unfitted.reconstruct(np.zeros((20, 3)))):
        with pytest.raises(NotFittedError, match="not fitted yet"):
            call()


def test_reconstruction_needs_a_neural_model(fitted_detectors, frame, tmp_path):
    path = tmp_path / "data.csv"
    frame.to_csv(path, index_label="timestamp")
    with pytest.raises(ConfigError, match="model 'pca' has no decoder"):
        score_csv(fitted_detectors["pca"], path, tmp_path / "s.csv", reconstruction_path=tmp_path / "r.csv")
    assert not (tmp_path / "s.csv").exists()


def test_a_conv_ae_saved_before_its_bottleneck_is_refused_in_one_line(fitted_detectors, tmp_path):
    saved = fitted_detectors["conv-ae"].save(tmp_path / "model")
    config = json.loads((saved / "config.json").read_text())
    config["format_version"] = 1
    (saved / "config.json").write_text(json.dumps(config))
    with pytest.raises(DataError, match=r"a conv-ae saved by an older seqae \(format 1\).*fit the model again"):
        BaseDetector.load(saved)
    # every detector saved before its alert rules kept their calibration (format 2) is refused too
    other = fitted_detectors["lstm-ae"].save(tmp_path / "lstm")
    config = json.loads((other / "config.json").read_text())
    config["format_version"] = 2
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(DataError, match=r"older seqae \(format 2\), whose alert rules lack .* fit the model again"):
        BaseDetector.load(other)


def test_the_conv_ae_bottleneck_fits_any_window(train_frame):
    for window_size in (8, 13, 30):
        det = make_detector("conv-ae", **tiny_params("conv-ae", window_size=window_size, epochs=1)).fit(train_frame)
        assert det.encode(train_frame).shape[1] == 8
        assert det.reconstruct(train_frame).shape == train_frame.shape


def test_seqae_score_writes_the_expected_readings_beside_the_scores(fitted_detectors, frame, tmp_path):
    from click.testing import CliRunner

    from seqae.cli import cli

    det = fitted_detectors["dense-ae"]
    model = det.save(tmp_path / "model")
    path = tmp_path / "data.csv"
    frame.to_csv(path, index_label="timestamp")
    out, recon = tmp_path / "scores.csv", tmp_path / "recon.csv"
    result = CliRunner().invoke(cli, ["score", str(model), str(path), "-o", str(out), "--reconstruction", str(recon)])
    assert result.exit_code == 0, result.output
    assert f"-> {out}, {recon}" in result.output
    written = pd.read_csv(recon)
    assert list(written.columns) == ["timestamp", *frame.columns]
    assert len(written) == len(pd.read_csv(out)) == len(frame)
    np.testing.assert_array_equal(written[list(frame.columns)].to_numpy(), det.reconstruct(frame).to_numpy())


def test_the_served_model_answers_with_the_expected_readings_over_http(fitted_detectors, frame, tmp_path):
    """`seqae serve` of a saved lstm-ae, asked over real HTTP with `"params": {"reconstruction": true}`."""
    import urllib.error
    import urllib.request

    from cli_store import free_port, start_seqae, stop, wait_for

    det = fitted_detectors["lstm-ae"]
    model = det.save(tmp_path / "model")
    rows = frame.iloc[580:700]
    port, log = free_port(), tmp_path / "serve.log"
    process = start_seqae(["serve", str(model), "--port", str(port)], cwd=tmp_path, log=log)

    def post(params):
        body = {"dataframe_split": {"columns": list(rows.columns), "data": rows.to_numpy().tolist()}}
        request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations",
                                         data=json.dumps({**body, "params": params}).encode(),
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    try:
        wait_for(f"http://127.0.0.1:{port}/ping", process, log)
        status, body = post({"reconstruction": True})
        assert status == 200, body
        served = pd.DataFrame(body["predictions"])
        status, plain = post({})
        assert status == 200, plain
        plain = pd.DataFrame(plain["predictions"])
        names = [f"expected_{n}" for n in frame.columns]
        assert not set(names) & set(plain.columns)
        # the usual answer, then what the model expected each sensor to read
        assert list(served.columns) == [*plain.columns, *names]
        pd.testing.assert_frame_equal(served[list(plain.columns)], plain)
        np.testing.assert_array_equal(served[names].to_numpy(),
                                      det.reconstruct(rows.reset_index(drop=True)).to_numpy())
        np.testing.assert_array_equal(served["score"].to_numpy(dtype=float), det.detect(rows).scores)
    finally:
        stop(process)


def test_largest_intervals_and_their_windows_by_hand():
    from seqae.detectors import Detection
    from seqae.tracking.expected import interval_windows, largest_intervals

    scores = np.array([0, 5, 6, 0, 0, 9, 0, 0, 2, 0], dtype=float)
    contributions = np.zeros((10, 2))
    contributions[:, 1] = scores  # sensor b carries every score
    detection = Detection(pd.RangeIndex(10), ["a", "b"], scores, contributions, 1.0, (scores > 1).astype(np.int8))
    found = largest_intervals(detection, n=2)
    assert [(i.first, i.last, i.peak, i.peak_score, i.sensors) for i in found] == [(5, 5, 5, 9.0, [1]),
                                                                                   (1, 2, 2, 6.0, [1])]
    # windows of 3 rows every 2 rows start at 0, 2, 4, 6, 7: those covering row 5 start at 4
    assert interval_windows(found[0], 10, 3, 2).tolist() == [False, False, True, False, False]
    assert interval_windows(found[1], 10, 3, 2).tolist() == [True, True, False, False, False]


def test_fit_and_evaluate_runs_show_actual_against_expected(tmp_path, monkeypatch):
    from cli_store import write_csvs
    from mlflow.tracking import MlflowClient

    from seqae import tracking
    from seqae.data import read_training_data

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    train_csv, test_csv = write_csvs(tmp_path)
    data = read_training_data(train_csv, label_column="anomaly")
    fitted = tracking.fit_and_log(make_detector("lstm-ae", **tiny_params("lstm-ae")), data, experiment="expected")
    client = MlflowClient()
    logged = {a.path for a in client.list_artifacts(fitted.run_id, "plots")}
    assert {"plots/latent_space.png", "plots/expected_1.png"} <= logged, logged
    evaluated = tracking.evaluate_and_log(fitted.model_uri, test_csv, label_column="anomaly")
    logged = {a.path for a in client.list_artifacts(evaluated.run_id, "evaluation/test")}
    assert {"evaluation/test/expected_1.png", "evaluation/test/latent_space.png"} <= logged, logged


def test_the_expected_readings_plot_has_a_panel_per_sensor(frame):
    from seqae import plots

    rows = frame.iloc[580:640]
    figure = plots.expected_readings(rows.index, rows.to_numpy()[:, :2], rows.to_numpy()[:, :2] + 0.1,
                                     ["sensor_0", "sensor_1"], (20, 25), title="why")
    assert len(figure.axes) == 2
    assert [ax.get_ylabel() for ax in figure.axes] == ["sensor_0", "sensor_1"]
    marked = plots.latent_scatter(np.random.default_rng(0).normal(size=(50, 4)), np.arange(50.0),
                                  marked={"flagged 3 .. 5": np.arange(50) < 5})
    assert "flagged 3 .. 5 (5 windows)" in [t.get_text() for t in marked.legends[0].get_texts()]  # below the axes


def test_the_plots_show_the_largest_alerts_or_else_the_flagged_intervals(fitted_detectors, sensor_data):
    from seqae.tracking.expected import largest_alerts

    frame, _, injected = sensor_data
    det = fitted_detectors["lstm-ae"]
    detection = det.detect(frame)
    found = largest_alerts(detection, det.find_alerts(detection))
    assert found and all(interval.alert_id is not None for interval in found)
    # the level shift is in one of the alerts shown, its sensor on top (the one-row spike stays under
    # the alert rules of this two-epoch network: it flags the rows its windows reach, 16 of 20 needed)
    for anomaly in [a for a in injected if a.kind == "level_shift"]:
        shown = [i for i in found if i.first <= anomaly.end and anomaly.start <= i.last]
        assert shown and det.feature_names_in_[shown[0].sensors[0]] == anomaly.sensor, found
    assert found[0].label(frame.index).startswith(f"alert {found[0].alert_id}: ")
    # the training rows raise no alert: their flagged intervals are shown instead
    training = det.training_detection_
    fallback = largest_alerts(training, det.find_alerts(training))
    assert fallback and all(interval.alert_id is None for interval in fallback)
