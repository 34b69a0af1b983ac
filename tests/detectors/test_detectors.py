"""The estimator contract, run over every detector in DETECTORS, then what each detector adds."""

from __future__ import annotations

import inspect
import json

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.metrics import roc_auc_score

import seqae
import seqae.detectors
from seqae.alerts import ALERT_COLUMNS
from seqae.detectors import scoring
from seqae.detectors import DETECTORS, BaseDetector, LSTMAutoencoder, LSTMVAE, PCADetector, make_detector
from seqae.errors import ConfigError, DataError, NotFittedError, TrainingError
from seqae.thresholds import FixedThreshold, QuantileThreshold

from conftest import MODEL_TYPES, N_NORMAL, NEURAL_TYPES, WINDOW, tiny_params

every_detector = pytest.mark.parametrize("model_type", MODEL_TYPES)
# Detectors that learn more than each sensor's level: `deviation` scores a reading only by its
# distance from the sensor's usual level, so anomalies inside a sensor's range (most of the
# generated ones) are out of its reach by design; its own tests are at the end of this file.
every_learning_detector = pytest.mark.parametrize("model_type", [m for m in MODEL_TYPES if m != "deviation"])
# Detectors that score windows of rows (`deviation` scores one row at a time).
every_windowed_detector = every_learning_detector
neural_detectors = pytest.mark.parametrize("model_type", NEURAL_TYPES)

FITTED_ATTRIBUTES = ["scaler_", "normalizer_", "threshold_", "train_scores_", "validation_scores_",
                     "feature_names_in_", "n_features_in_"]


# ---- the contract ------------------------------------------------------------------------------


@every_detector
def test_fit_returns_self_and_sets_fitted_attributes(model_type, make_tiny, train_frame):
    detector = make_tiny(model_type)
    assert detector.fit(train_frame) is detector
    for name in FITTED_ATTRIBUTES:
        assert hasattr(detector, name), name
    assert list(detector.feature_names_in_) == list(train_frame.columns)
    assert detector.n_features_in_ == train_frame.shape[1]
    if model_type in NEURAL_TYPES:
        assert isinstance(detector.net_, torch.nn.Module)


@every_detector
def test_init_only_stores_parameters(model_type):
    detector = DETECTORS[model_type]()
    assert not [k for k in vars(detector) if k.endswith("_")]
    assert detector.get_params() == DETECTORS[model_type]().get_params()


@every_detector
def test_signature_lists_every_parameter_keyword_only_with_its_default(model_type):
    # scikit-learn reads the parameters from the signature: get_params, clone and repr see them all.
    cls = DETECTORS[model_type]
    parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]  # past self
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters)
    assert {p.name: p.default for p in parameters} == cls().get_params()
    # declared in `parameters` and stored by the generated __init__, not re-listed in one of its own
    assert cls.__init__.__code__ is BaseDetector.__init__.__code__
    for p in parameters:
        assert f"\n    {p.name} (default " in cls.__init__.__doc__
    with pytest.raises(TypeError, match="unexpected keyword argument 'windowsize'"):
        cls(windowsize=8)


@pytest.mark.parametrize("model_type, name, default", [
    ("lstm-ae", "normalize_on", "validation"), ("lstm-vae", "normalize_on", "train"), ("pca", "normalize_on", "train"),
    ("iforest", "normalize_on", "train"), ("knn-window", "normalize_on", "validation"),
    ("lstm-ae", "rise_patience", 3), ("lstm-vae", "rise_patience", 0), ("dense-ae", "rise_patience", 0),
    ("conv-ae", "rise_patience", 0), ("lstm-forecast", "rise_patience", 0),
    ("lstm-ae", "max_epoch_windows", 1024), ("lstm-vae", "max_validation_windows", 256),
    ("dense-ae", "max_epoch_windows", None), ("conv-ae", "max_validation_windows", None),
    ("conv-ae", "hidden_size", 32), ("dense-ae", "hidden_size", 64), ("lstm-forecast", "score_reduction", "last"),
    ("pca", "window_size", 1), ("deviation", "window_size", 1), ("iforest", "window_size", 32),
    ("deviation", "scaling", "robust"), ("knn-window", "scaling", "robust"), ("ensemble", "scaling", "robust"),
    ("lstm-ae", "scaling", "standard"), ("iforest", "normalization", "none"), ("ensemble", "normalization", "none"),
])
def test_per_class_defaults(model_type, name, default):
    assert make_detector(model_type).get_params()[name] == default


def test_a_default_for_an_undeclared_parameter_is_refused_where_the_class_is_defined():
    with pytest.raises(TypeError, match="Odd.defaults names 'window_sise', which no base of it declares"):
        class Odd(BaseDetector):
            defaults = {"window_sise": 8}


@pytest.mark.parametrize("model_type, absent", [
    ("dense-ae", "num_layers"), ("conv-ae", "num_layers"), ("lstm-forecast", "latent_dim"), ("pca", "hidden_size"),
])
def test_a_detector_has_only_the_parameters_its_model_uses(model_type, absent):
    assert absent not in make_detector(model_type).get_params()


def test_make_detector_names_every_registered_model_type():
    for model_type in DETECTORS:
        assert f"`{model_type}`" in make_detector.__doc__
    with pytest.raises(ConfigError) as error:
        make_detector("lstm")
    assert str(error.value).endswith(", ".join(DETECTORS))


def test_every_detector_class_is_a_public_name_of_seqae():
    classes = {cls.__name__ for cls in DETECTORS.values()}
    assert classes <= set(seqae.__all__) and classes <= set(dir(seqae))
    for name in classes:
        assert getattr(seqae, name) is getattr(seqae.detectors, name)


@every_detector
def test_input_checks_change_nothing(model_type, fitted_detectors, train_frame, frame):
    fresh = make_detector(model_type)
    fresh.check_segments([train_frame, train_frame])
    assert vars(fresh) == vars(make_detector(model_type))  # nothing recorded before fit
    detector = fitted_detectors[model_type]
    before = dict(vars(detector))
    detector.check_segments(frame[frame.columns[::-1]])
    detector.check_input(frame)
    assert vars(detector).keys() == before.keys()
    assert all(vars(detector)[k] is v for k, v in before.items())
    assert list(detector.feature_names_in_) == list(train_frame.columns)


@every_detector
@pytest.mark.parametrize("method", ["detect", "anomaly_score", "predict", "sensor_scores", "alerts"])
def test_methods_before_fit_raise_not_fitted(model_type, method, frame):
    detector = make_detector(model_type)
    with pytest.raises(NotFittedError, match=r"is not fitted yet; call fit\(\) first"):
        getattr(detector, method)(frame)


@every_detector
def test_save_before_fit_raises_not_fitted(model_type, tmp_path):
    with pytest.raises(NotFittedError, match="not fitted"):
        make_detector(model_type).save(tmp_path / "model")
    assert not (tmp_path / "model").exists()


@every_detector
def test_clone_round_trip(model_type, fitted_detectors):
    detector = fitted_detectors[model_type]
    copy = clone(detector)
    assert copy.get_params() == detector.get_params()
    assert type(copy) is type(detector)
    assert not hasattr(copy, "threshold_")  # a clone is unfitted
    window = {} if model_type == "deviation" else {"window_size": 8}
    custom = clone(make_detector(model_type, threshold=QuantileThreshold(0.9), **window))
    assert custom.get_params()["threshold"].q == 0.9 and custom.window_size == window.get("window_size", 1)


@every_detector
def test_output_shapes(model_type, fitted_detectors, frame):
    detector = fitted_detectors[model_type]
    detection = detector.detect(frame)
    n_rows, n_sensors = frame.shape
    assert detection.scores.shape == detection.raw_scores.shape == (n_rows,)
    # a row has a score once a whole window ends on it; flags only once the burn-in has passed
    n_warm = detector.window_size - 1
    assert np.isnan(detection.scores[:n_warm]).all() and np.isfinite(detection.scores[n_warm:]).all()
    assert detection.warming_up[:n_warm + detector.alert_rules_.burn_in].all()
    assert not detection.warming_up[n_warm + detector.alert_rules_.burn_in:].any()
    assert detection.flags.shape == (n_rows,) and set(np.unique(detection.flags)) <= {0, 1}
    assert not detection.flags[detection.warming_up].any()
    assert detection.contributions.shape == (n_rows, n_sensors)
    np.testing.assert_allclose(detection.contributions.sum(axis=1), detection.raw_scores, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(detector.anomaly_score(frame, causal=True), detection.raw_scores)
    ranking = detector.anomaly_score(frame)
    assert ranking.shape == (n_rows,) and np.isfinite(ranking).all()  # first and last rows included

    sensors = detector.sensor_scores(frame)
    assert list(sensors.columns) == list(frame.columns)
    assert sensors.index.equals(frame.index)
    np.testing.assert_array_equal(sensors.to_numpy(), detection.contributions)
    np.testing.assert_array_equal(detector.predict(frame), detection.flags)

    table = detection.to_frame()
    assert list(table.columns) == (["score", "raw_score", "is_anomaly", "alert_id", "warming_up"]
                                   + [f"contribution_{c}" for c in frame.columns])
    assert len(table) == n_rows


@every_detector
def test_same_random_state_gives_identical_scores(model_type, fitted_detectors, train_frame, frame):
    again = make_detector(model_type, **tiny_params(model_type)).fit(train_frame)
    np.testing.assert_array_equal(again.anomaly_score(frame), fitted_detectors[model_type].anomaly_score(frame))


@every_learning_detector
def test_injected_anomalies_score_above_normal_points(model_type, fitted_detectors, sensor_data):
    frame, labels, injected = sensor_data
    scores = fitted_detectors[model_type].anomaly_score(frame)
    test = slice(N_NORMAL, None)  # the rows the detector did not see
    assert roc_auc_score(labels.iloc[test], scores[test]) > 0.95
    if model_type == "iforest":
        # A one-row spike is one of window_size x n_features values of each window covering it:
        # random splits seldom pick it. A known blind spot of windowed isolation forests.
        return
    spike = next(a for a in injected if a.kind == "spike")
    assert scores[spike.start] > np.quantile(scores[:N_NORMAL], 0.99)


@every_learning_detector
def test_top_sensor_of_a_level_shift_is_the_shifted_sensor(model_type, fitted_detectors, sensor_data):
    frame, _, injected = sensor_data
    shift = next(a for a in injected if a.kind == "level_shift")
    alerts = fitted_detectors[model_type].alerts(frame)
    assert list(alerts.columns) == ALERT_COLUMNS
    overlapping = alerts[(alerts.start <= frame.index[shift.end]) & (alerts.end >= frame.index[shift.start])]
    assert len(overlapping) >= 1
    largest = overlapping.sort_values("n_flagged").iloc[-1]
    assert frame.index[shift.start] <= largest.fired_at <= frame.index[shift.end]  # raised while it lasted
    assert largest.top_sensor == shift.sensor
    assert largest.top_sensors.startswith(f"{shift.sensor} (")


@every_detector
def test_save_load_gives_identical_scores_and_threshold(model_type, fitted_detectors, frame, tmp_path):
    detector = fitted_detectors[model_type]
    directory = detector.save(tmp_path / "model")
    for loader in (type(detector), BaseDetector):
        loaded = loader.load(directory)
        assert type(loaded) is type(detector)
        np.testing.assert_array_equal(loaded.anomaly_score(frame), detector.anomaly_score(frame))
        np.testing.assert_array_equal(loaded.sensor_scores(frame).to_numpy(),
                                      detector.sensor_scores(frame).to_numpy())
        assert loaded.threshold_.value_ == detector.threshold_.value_
        assert type(loaded.threshold_) is type(detector.threshold_)
        assert list(loaded.feature_names_in_) == list(detector.feature_names_in_)
        assert loaded.get_params() == detector.get_params()  # threshold=None stays None


@every_detector
def test_saved_directory_is_readable_json_and_a_plain_state_dict(model_type, fitted_detectors, tmp_path):
    detector = fitted_detectors[model_type]
    directory = detector.save(tmp_path / "model")
    config = json.loads((directory / "config.json").read_text())
    assert config["model_type"] == model_type
    assert config["feature_names"] == list(detector.feature_names_in_)
    window = 1 if model_type == "deviation" else WINDOW  # the deviation detector scores one row at a time
    assert config["params"].get("window_size", 1) == detector.window_size == window
    assert config["threshold"]["kind"] == "quantile"
    assert config["threshold"]["value"] == detector.threshold_.value_
    assert len(config["scaler"]["mean"]) == detector.n_features_in_
    weights = directory / "weights.pt"
    if model_type in NEURAL_TYPES:
        state = torch.load(weights, weights_only=True)  # tensors only: no pickled objects
        assert set(state) == set(detector.net_.state_dict())
    elif model_type in ("knn-window", "ensemble"):  # training windows; the members' saved files: tensors too
        state = torch.load(weights, weights_only=True)
        assert state and all(isinstance(v, torch.Tensor) for v in state.values())
    else:
        assert not weights.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no staging directory left over


@every_detector
def test_save_refuses_a_directory_that_is_not_empty(model_type, fitted_detectors, tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="already exists and is not an empty directory"):
        fitted_detectors[model_type].save(tmp_path / "model")
    assert (tmp_path / "model" / "notes.txt").read_text() == "keep me"


def test_load_with_the_wrong_class_names_both(fitted_detectors, tmp_path):
    directory = fitted_detectors["lstm-vae"].save(tmp_path / "vae")
    with pytest.raises(DataError, match="holds a LSTMVAE, not a LSTMAutoencoder"):
        LSTMAutoencoder.load(directory)


@pytest.mark.parametrize("damage, message", [
    ("no config", "no config.json"),
    ("not json", "not a seqae model config"),
    ("no weights", "no weights.pt"),
])
def test_load_of_a_damaged_directory_is_a_data_error(damage, message, fitted_detectors, tmp_path):
    directory = fitted_detectors["lstm-ae"].save(tmp_path / "model")
    if damage == "no config":
        (directory / "config.json").unlink()
    elif damage == "not json":
        (directory / "config.json").write_text("{ not json")
    else:
        (directory / "weights.pt").unlink()
    with pytest.raises(DataError, match=message):
        BaseDetector.load(directory)


@every_detector
def test_feature_count_mismatch_names_both_counts(model_type, fitted_detectors, frame):
    with pytest.raises(DataError, match=r"has 2 sensors, but .* was fitted with 3"):
        fitted_detectors[model_type].anomaly_score(frame.to_numpy()[:, :2])


@every_detector
def test_missing_column_is_named(model_type, fitted_detectors, frame):
    with pytest.raises(DataError, match=r"column 'sensor_1' that the model was fitted on is missing"):
        fitted_detectors[model_type].anomaly_score(frame.drop(columns="sensor_1").assign(other=1.0))


@every_detector
def test_extra_and_reordered_columns_are_ignored(model_type, fitted_detectors, frame):
    detector = fitted_detectors[model_type]
    shuffled = frame[["sensor_2", "sensor_0", "sensor_1"]].assign(unrelated=np.arange(len(frame)))
    np.testing.assert_array_equal(detector.anomaly_score(shuffled), detector.anomaly_score(frame))


@every_detector
def test_a_constant_sensor_gives_finite_scores(model_type, make_tiny, frame):
    flat = frame.assign(sensor_2=7.5)
    detector = make_tiny(model_type).fit(flat.iloc[:N_NORMAL])
    detection = detector.detect(flat)
    scored = detector.window_size - 1  # the rows before the first full window have no score yet
    assert np.isfinite(detection.scores[scored:]).all() and np.isfinite(detection.contributions[scored:]).all()
    assert np.isfinite(detector.anomaly_score(flat)).all()
    assert np.isfinite(detector.threshold_.value_)


@every_windowed_detector
def test_fewer_rows_than_a_window_is_a_data_error(model_type, fitted_detectors, make_tiny, frame):
    message = rf"has {WINDOW - 1} rows, fewer than one window \(window_size={WINDOW}\)"
    with pytest.raises(DataError, match=message):
        fitted_detectors[model_type].anomaly_score(frame.iloc[: WINDOW - 1])
    with pytest.raises(DataError, match=message):
        make_tiny(model_type).fit(frame.iloc[: WINDOW - 1])


@every_detector
def test_non_finite_values_are_a_data_error(model_type, make_tiny, fitted_detectors, frame):
    values = frame.to_numpy().copy()
    values[20, 1] = np.inf
    with pytest.raises(DataError, match=r"column 'x1' has 1 missing or infinite values \(first at position 20\)"):
        make_tiny(model_type).fit(values)
    holed = frame.copy()
    holed.iloc[20, 1] = np.nan
    with pytest.raises(DataError, match=r"column 'sensor_1' has 1 missing or infinite values"):
        fitted_detectors[model_type].anomaly_score(holed)


def test_arrays_work_like_frames(fitted_detectors, train_frame, frame):
    detector = make_detector("pca", **tiny_params("pca")).fit(train_frame.to_numpy())
    assert list(detector.feature_names_in_) == ["x0", "x1", "x2"]
    np.testing.assert_array_equal(detector.anomaly_score(frame.to_numpy()),
                                  fitted_detectors["pca"].anomaly_score(frame))


# ---- thresholds, validation and training through the estimators --------------------------------


@every_detector
def test_default_threshold_is_the_99th_percentile_of_held_out_scores(model_type, fitted_detectors):
    detector = fitted_detectors[model_type]
    assert len(detector.validation_scores_) == int(N_NORMAL * 0.2)
    assert len(detector.train_scores_) == N_NORMAL - int(N_NORMAL * 0.2)
    # calibrated on the held-out rows scored as a live feed scores them: the window ending on each
    assert len(detector.calibration_scores_) == int(N_NORMAL * 0.2)
    assert detector.threshold_.value_ == pytest.approx(np.quantile(detector.calibration_scores_, 0.99))
    assert detector.alert_rules_.threshold_value == pytest.approx(detector.threshold_.value_)


def test_a_user_threshold_replaces_the_default(make_tiny, train_frame, frame):
    detector = make_tiny("pca", threshold=FixedThreshold(2.5)).fit(train_frame)
    assert detector.threshold_.value_ == 2.5
    assert detector.threshold.get_params() == {"value": 2.5}  # the parameter itself is left unfitted
    assert not hasattr(detector.threshold, "value_")
    detection = detector.detect(frame)  # a fixed threshold stays where it was put
    expected = (np.nan_to_num(detection.raw_scores, nan=-np.inf) > 2.5) & ~detection.warming_up
    np.testing.assert_array_equal(np.nan_to_num(detection.scores, nan=-np.inf) > 1.0, expected)


def test_a_user_threshold_survives_save_and_load(make_tiny, train_frame, tmp_path):
    detector = make_tiny("pca", threshold=QuantileThreshold(0.9)).fit(train_frame)
    loaded = BaseDetector.load(detector.save(tmp_path / "model"))
    assert type(loaded.threshold) is QuantileThreshold and loaded.threshold.q == 0.9
    assert not hasattr(loaded.threshold, "value_")
    assert loaded.threshold_.value_ == detector.threshold_.value_


def test_too_few_rows_for_validation_warns_and_trains_on_all(make_tiny, train_frame):
    with pytest.warns(UserWarning, match="too few to hold out 20% for validation"):
        detector = make_tiny("pca").fit(train_frame.iloc[:40])
    assert detector.validation_scores_ is None
    assert detector.threshold_.value_ == pytest.approx(np.quantile(detector.calibration_scores_, 0.99))
    assert len(detector.calibration_scores_) == 40 - detector.window_size + 1  # every row with a full window


@pytest.mark.parametrize("params, message", [
    ({"window_size": 0}, "window_size must be a positive integer, got 0"),
    ({"window_size": "16"}, "window_size must be a positive integer, got '16'"),
    ({"validation_fraction": 1.0}, r"validation_fraction must be in \[0, 1\), got 1.0"),
    ({"normalization": "minmax"}, "normalization must be one of zscore, robust, none, got 'minmax'"),
    ({"score_reduction": "max"}, "score_reduction must be one of mean, last, window, got 'max'"),
    ({"threshold_on": "test"}, "threshold_on must be one of validation, all, got 'test'"),
    ({"score_stride": 17}, "score_stride must be an integer from 1 to window_size=16, got 17"),
    ({"threshold": 0.5}, "threshold must be a seqae Threshold"),
    ({"hidden_size": 0}, "hidden_size must be a positive integer, got 0"),
    ({"learning_rate": 0.0}, "learning_rate must be positive, got 0.0"),
    ({"dropout": 1.0}, r"dropout must be in \[0, 1\), got 1.0"),
    ({"noise_std": -1.0}, "noise_std must be >= 0, got -1.0"),
    ({"rise_patience": -1}, "rise_patience must be an integer >= 0, got -1"),
    ({"rise_tolerance": -0.1}, "rise_tolerance must be >= 0, got -0.1"),
])
def test_bad_parameters_are_config_errors(params, message, make_tiny, train_frame):
    with pytest.raises(ConfigError, match=message):
        make_tiny("lstm-ae", **params).fit(train_frame)


# Parameters whose default is a number but that take None too (None = no cap: every window).
TAKE_NONE = {"max_epoch_windows", "max_validation_windows"}


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_a_parameter_of_the_wrong_type_is_a_config_error_naming_it(model_type, make_tiny, train_frame):
    """What `-p NAME=VALUE` or a pipeline file can hand over: text, a list, a flag, NaN, nothing."""
    detector = make_tiny(model_type)
    for name, default in type(detector)().get_params().items():
        for value in ("abc", None, [1], True, float("nan")):
            if name == "threshold" or (value is None and (default is None or name in TAKE_NONE)) or \
                    (isinstance(value, bool) and isinstance(default, bool)):
                continue  # a value the parameter takes
            with pytest.raises(ConfigError, match=rf"^{name} must be"):
                clone(detector).set_params(**{name: value}).fit(train_frame)


@pytest.mark.parametrize("params, message", [
    ({"score": "likelihood"}, "score must be one of reconstruction_probability, elbo, got 'likelihood'"),
    ({"n_samples": -1}, "n_samples must be an integer >= 0, got -1"),
    ({"beta": -0.5}, "beta must be >= 0, got -0.5"),
])
def test_bad_vae_parameters_are_config_errors(params, message, make_tiny, train_frame):
    with pytest.raises(ConfigError, match=message):
        make_tiny("lstm-vae", **params).fit(train_frame)


def test_make_detector_rejects_unknown_models_and_parameters():
    with pytest.raises(ConfigError, match="unknown model 'lstm'; choose one of lstm-ae, lstm-vae"):
        make_detector("lstm")
    with pytest.raises(ConfigError, match="model 'pca' takes no parameter 'hidden_size'"):
        make_detector("pca", hidden_size=3)
    assert isinstance(make_detector("lstm-ae", window_size=8), LSTMAutoencoder)


@neural_detectors
def test_history_has_a_loss_per_epoch(model_type, fitted_detectors):
    history = fitted_detectors[model_type].history_
    n_epochs = len(history.train_loss)
    assert 1 <= n_epochs <= tiny_params(model_type)["epochs"]
    assert len(history.validation_loss) == n_epochs
    assert np.isfinite(history.train_loss).all() and np.isfinite(history.validation_loss).all()
    assert history.best_epoch == int(np.argmin(history.validation_loss))
    assert history.train_loss[-1] < history.train_loss[0]  # it learned something


@pytest.mark.parametrize("model_type, learning_rate, found", [
    ("lstm-vae", 1e6, "nan"),  # the decoder's variance collapses
    ("lstm-ae", 1e30, "inf"),  # the reconstructions overflow float32
])
def test_a_diverging_fit_stops_with_a_training_error(model_type, learning_rate, found, make_tiny, train_frame):
    with pytest.raises(TrainingError, match=rf"the training loss became {found} at epoch 1; lower the learning rate"):
        make_tiny(model_type, learning_rate=learning_rate).fit(train_frame)


def test_readings_far_outside_the_training_range_score_finite_and_high(fitted_detectors, frame):
    detector = fitted_detectors["lstm-ae"]
    wild = frame.copy()
    wild.iloc[700, 0] = 1e250  # overflows float32 unless the scaled value is clipped
    scores = detector.anomaly_score(wild)
    assert np.isfinite(scores).all()
    assert scores[700] == scores.max() and detector.predict(wild)[700] == 1


@pytest.mark.parametrize("reduction", ["mean", "last"])
def test_scores_do_not_depend_on_the_scoring_batch_size(reduction, make_tiny, train_frame, frame, monkeypatch):
    detector = make_tiny("lstm-ae", score_reduction=reduction).fit(train_frame)
    one_batch = detector.anomaly_score(frame)
    monkeypatch.setattr(scoring, "SCORE_BATCH", 37)
    np.testing.assert_allclose(detector.anomaly_score(frame), one_batch, rtol=1e-5, atol=1e-6)


def test_score_stride_keeps_one_score_per_row(make_tiny, train_frame, frame):
    detector = make_tiny("pca", score_stride=5).fit(train_frame)
    scores = detector.anomaly_score(frame)
    assert scores.shape == (len(frame),) and np.isfinite(scores).all()


# ---- the LSTM nets -----------------------------------------------------------------------------


@pytest.mark.parametrize("model_type", ["lstm-ae", "lstm-vae"])
def test_encode_gives_one_latent_vector_per_window(model_type, fitted_detectors, frame):
    z = fitted_detectors[model_type].encode(frame)
    assert z.shape == (len(frame) - WINDOW + 1, tiny_params(model_type)["latent_dim"])
    assert np.isfinite(z).all()
    np.testing.assert_array_equal(fitted_detectors[model_type].encode(frame), z)


def test_encode_before_fit_raises_not_fitted(frame):
    with pytest.raises(NotFittedError, match="LSTMAutoencoder is not fitted yet"):
        LSTMAutoencoder().encode(frame)


@pytest.mark.parametrize("n_samples", [0, 4])
def test_vae_scores_are_deterministic(n_samples, make_tiny, train_frame, frame, tmp_path):
    detector = make_tiny("lstm-vae", n_samples=n_samples).fit(train_frame)
    first = detector.anomaly_score(frame)
    np.testing.assert_array_equal(detector.anomaly_score(frame), first)
    np.testing.assert_array_equal(LSTMVAE.load(detector.save(tmp_path / "vae")).anomaly_score(frame), first)
    assert np.isfinite(first).all()


def test_vae_sampled_scores_differ_from_mean_latent_scores(fitted_detectors, frame):
    detector = clone(fitted_detectors["lstm-vae"])
    detector.__dict__.update({k: v for k, v in vars(fitted_detectors["lstm-vae"]).items() if k.endswith("_")})
    mean_latent = detector.anomaly_score(frame)
    detector.set_params(n_samples=3)
    sampled = detector.anomaly_score(frame)
    assert not np.array_equal(sampled, mean_latent)
    assert np.corrcoef(sampled, mean_latent)[0, 1] > 0.9  # the same model, only the latent differs


def test_vae_elbo_score_is_the_reconstruction_score_plus_a_non_negative_kl(make_tiny, train_frame, frame):
    # normalization='none' keeps raw element scores, so the two can be compared point by point.
    detector = make_tiny("lstm-vae", normalization="none").fit(train_frame)
    reconstruction = detector.anomaly_score(frame)
    detector.set_params(score="elbo")
    elbo = detector.anomaly_score(frame)
    assert np.all(elbo >= reconstruction - 1e-5)
    assert np.mean(elbo - reconstruction) > 0


def test_vae_with_fixed_variance(make_tiny, train_frame, frame):
    detector = make_tiny("lstm-vae", learn_variance=False).fit(train_frame)
    assert detector.net_.out_logvar is None
    assert np.isfinite(detector.anomaly_score(frame)).all()


def test_pca_window_of_one_is_pointwise(train_frame, frame):
    detector = PCADetector(n_components=2).fit(train_frame)
    assert detector.components_.shape == (2, 3)
    assert detector.anomaly_score(frame).shape == (len(frame),)


def test_sensor_scores_index_keeps_timestamps(fitted_detectors, frame):
    sensors = fitted_detectors["pca"].sensor_scores(frame)
    assert isinstance(sensors.index, pd.DatetimeIndex)
    alerts = fitted_detectors["pca"].alerts(frame)
    assert isinstance(alerts.start.iloc[0], pd.Timestamp)


# ---- the deviation baseline -------------------------------------------------------------------------

def test_deviation_scores_each_reading_by_its_distance_from_the_training_level(frame):
    """Element score = ((x - median) / (IQR / 1.349))² per sensor, then the shared normalisation:
    recomputed here from the definition, and a reading shifted far outside its range is flagged and
    blamed on its sensor."""
    train = frame.iloc[:N_NORMAL]
    detector = make_detector("deviation").fit(train)
    values = frame.to_numpy()
    q1, q3 = np.percentile(train.to_numpy(), [25, 75], axis=0)
    median = np.median(train.to_numpy(), axis=0)
    elements = ((values - median) / ((q3 - q1) / 1.349)) ** 2
    held_out = elements[int(N_NORMAL * 0.8):N_NORMAL]  # normalize_on="validation": the last 20 %
    center = np.median(held_out, axis=0)
    scale = 1.4826 * np.median(np.abs(held_out - center), axis=0)
    np.testing.assert_allclose(detector.anomaly_score(frame), ((elements - center) / scale).mean(axis=1),
                               rtol=1e-4, atol=1e-4)

    shifted = frame.copy()
    spread = train["sensor_1"].std()
    shifted.iloc[700:740, 1] += 10 * spread
    detection = detector.detect(shifted)
    assert detection.flags[700:740].all()
    assert detection.flags[N_NORMAL:700].mean() < 0.1
    alerts = detector.find_alerts(detection).table
    assert alerts.sort_values("n_flagged").iloc[-1].top_sensor == "sensor_1"


def test_deviation_window_reduction_gives_each_row_the_level_of_its_windows():
    # One reading alone by default; with a window and score_reduction="window", a row's element
    # score is the mean over the windows covering it of their mean squared scaled readings (the
    # score: the mean over sensors, with no normalisation).
    assert make_detector("deviation").window_size == 1
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(200, 2)), columns=["a", "b"])
    windowed = make_detector("deviation", window_size=5, score_reduction="window", normalization="none").fit(frame)
    plain = make_detector("deviation").fit(frame)
    squares = np.square(windowed.scaler_.transform(frame.to_numpy()).astype(np.float64))
    window_means = np.stack([squares[i:i + 5].mean(axis=0) for i in range(len(squares) - 4)])
    expected = np.stack([window_means[max(0, t - 4):min(t, len(window_means) - 1) + 1].mean(axis=0)
                         for t in range(len(squares))])
    np.testing.assert_allclose(windowed.anomaly_score(frame), expected.mean(axis=1), rtol=1e-5, atol=1e-6)
    spiky = frame.copy()
    spiky.iloc[100, 0] += 8.0
    # the spike's row leads the plain baseline; the windowed one spreads it over its windows
    assert np.argmax(plain.anomaly_score(spiky)) == 100
    assert windowed.anomaly_score(spiky)[95:106].min() > np.median(windowed.anomaly_score(spiky))


def test_the_lstm_autoencoders_decoder_and_window_norm_survive_save_and_load(make_tiny, train_frame, frame,
                                                                             tmp_path):
    detector = make_tiny("lstm-ae", decoder="teacher_forcing", window_norm="center").fit(train_frame)
    loaded = BaseDetector.load(detector.save(tmp_path / "model"))
    assert (loaded.decoder, loaded.window_norm) == ("teacher_forcing", "center")
    assert np.array_equal(loaded.anomaly_score(frame), detector.anomaly_score(frame))
    # the code carries each window's mean per sensor after the latent values
    names = loaded.code_names()
    assert names == [f"z{k}" for k in range(loaded.latent_dim)] + [f"level_{c}" for c in frame.columns]
    assert loaded.encode(frame).shape[1] == len(names) == loaded.code_size()
