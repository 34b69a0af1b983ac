"""A fleet: one detector per machine, routed, saved and loaded as one model (seqae.fleet)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from seqae.alerts import AlertRules
from seqae.detectors import make_detector
from seqae.errors import ConfigError, DataError, NotFittedError
from seqae.fleet import FitSpec, FleetDetector, asset_key, detector_bytes, detector_from_bytes, fit_asset
from seqae.synthetic import make_fleet_data
from seqae.thresholds import QuantileThreshold

WINDOW = 16
SPEC = FitSpec("knn-window", {"window_size": WINDOW})


@pytest.fixture(scope="module")
def fleet_rows():
    """3 machines × 400 rows, interleaved in time order, and 3 × 200 new rows to score."""
    frame, _ = make_fleet_data(3, 600, 3, random_state=5)
    times = frame.index.unique()
    return frame[frame.index < times[400]], frame[frame.index >= times[400]]


@pytest.fixture(scope="module")
def fleet(fleet_rows):
    return FleetDetector(SPEC, asset_column="machine").fit(fleet_rows[0])


def test_each_machine_gets_the_detector_its_own_rows_give(fleet, fleet_rows):
    train, _ = fleet_rows
    assert fleet.assets_ == ["m00", "m01", "m02"]
    for machine in fleet.assets_:
        own = train[train["machine"] == machine].drop(columns="machine")
        alone = make_detector("knn-window", window_size=WINDOW).fit(own)
        np.testing.assert_array_equal(fleet.detectors_[machine].train_scores_, alone.train_scores_)
        assert fleet.fitted_[machine].n_rows == 400


def test_score_frame_routes_rows_and_keeps_their_order_and_the_machine_column(fleet, fleet_rows):
    _, new = fleet_rows
    scores = fleet.score_frame(new)
    assert list(scores.columns[:6]) == ["machine", "score", "raw_score", "is_anomaly", "alert_id", "warming_up"]
    assert scores.index.equals(new.index)
    assert (scores["machine"].to_numpy() == new["machine"].to_numpy()).all()
    for machine in ("m00", "m02"):
        rows = new[new["machine"] == machine].drop(columns="machine")
        detection = fleet.detectors_[machine].detect(rows)
        mine = scores[scores["machine"] == machine]
        np.testing.assert_array_equal(mine["score"].to_numpy(), detection.scores)
        np.testing.assert_array_equal(mine["alert_id"].to_numpy(),
                                      fleet.detectors_[machine].find_alerts(detection).alert_ids)
    cut = 0.1  # a flag level on the calibrated score, just above a typical row (0) and far below the threshold (1.0)
    lowered = fleet.score_frame(new, threshold=cut)
    decided = lowered["warming_up"] == 0
    flagged = lowered["is_anomaly"] == 1  # rows an alert raised at that level is on at
    assert decided[flagged].all() and (lowered["score"][flagged] >= cut * AlertRules().hysteresis).all()
    assert lowered["is_anomaly"].sum() > scores["is_anomaly"].sum()


def test_an_unseen_machine_is_one_error_naming_it(fleet, fleet_rows):
    new = fleet_rows[1].copy()
    new.loc[new["machine"] == "m01", "machine"] = "m07"
    with pytest.raises(DataError, match=r"machine 'm07' has no detector in this model \(it has 3: 'm00', 'm01', "
                                        r"'m02'\); .*--fallback shared"):
        fleet.score_frame(new)


def test_the_shared_fallback_scores_an_unseen_machine(fleet_rows):
    train, new = fleet_rows
    fleet = FleetDetector(SPEC, fallback="shared").fit(train)
    parts = [train[train["machine"] == m].drop(columns="machine") for m in ("m00", "m01", "m02")]
    shared = make_detector("knn-window", window_size=WINDOW).fit(parts)  # each machine a recording of its own
    np.testing.assert_array_equal(fleet.fallback_detector_.train_scores_, shared.train_scores_)
    renamed = new.replace({"machine": {"m01": "pump-9"}})
    scores = fleet.score_frame(renamed)
    unseen = renamed[renamed["machine"] == "pump-9"].drop(columns="machine")
    np.testing.assert_array_equal(scores.loc[scores["machine"] == "pump-9", "score"].to_numpy(),
                                  shared.detect(unseen).scores)


def test_save_and_load_give_identical_scores_and_a_readable_fleet_json(fleet, fleet_rows, tmp_path):
    saved = fleet.save(tmp_path / "fleet")
    state = json.loads((saved / "fleet.json").read_text())
    assert state["asset_column"] == "machine" and state["n_assets"] == 3
    assert [a["asset"] for a in state["assets"]] == ["m00", "m01", "m02"]
    assert (saved / state["assets"][0]["directory"] / "config.json").is_file()
    assert state["spec"] == {"model_type": "knn-window", "params": {"window_size": WINDOW}}
    loaded = FleetDetector.load(saved)
    pd.testing.assert_frame_equal(loaded.score_frame(fleet_rows[1]), fleet.score_frame(fleet_rows[1]))
    with pytest.raises(ConfigError, match="already exists"):
        fleet.save(saved)
    with pytest.raises(DataError, match="no fleet.json"):
        FleetDetector.load(tmp_path)


def test_parallel_processes_fit_the_same_fleet_as_one_process(fleet, fleet_rows):
    parallel = FleetDetector(SPEC, n_jobs=2, fallback="shared").fit(fleet_rows[0])
    pd.testing.assert_frame_equal(parallel.score_frame(fleet_rows[1]), fleet.score_frame(fleet_rows[1]))


def test_a_machine_too_short_is_an_error_naming_it(fleet_rows):
    train = fleet_rows[0]
    short = pd.concat([train[train["machine"] != "m01"], train[train["machine"] == "m01"].iloc[:5]])
    with pytest.raises(DataError, match=r"machine 'm01': the data has 5 rows, fewer than one window"):
        FleetDetector(SPEC).fit(short)


def test_warnings_of_one_machine_name_it(fleet_rows):
    train = fleet_rows[0]
    short = pd.concat([train[train["machine"] != "m02"], train[train["machine"] == "m02"].iloc[:30]])
    with pytest.warns(UserWarning, match=r"machine 'm02': 30 training rows are too few to hold out"):
        FleetDetector(SPEC).fit(short)


def test_fit_takes_a_mapping_of_recordings_and_a_threshold(fleet_rows):
    train = fleet_rows[0]
    data = {7: [train[train["machine"] == "m00"].drop(columns="machine").iloc[:200],
                train[train["machine"] == "m00"].drop(columns="machine").iloc[200:]]}
    spec = FitSpec("pca", {"window_size": WINDOW, "threshold": QuantileThreshold(0.9)})
    fleet = FleetDetector(spec).fit(data)
    assert fleet.assets_ == ["7"] and fleet.detector_for(7.0) is fleet.detectors_["7"]
    assert FitSpec.from_dict(spec.to_dict()).params["threshold"].get_params() == {"q": 0.9}


def test_detectors_travel_as_bytes_and_assemble_into_a_fleet(fleet, fleet_rows):
    blobs = {machine: detector_bytes(detector) for machine, detector in fleet.detectors_.items()}
    assembled = FleetDetector.from_detectors({m: detector_from_bytes(b) for m, b in blobs.items()},
                                             asset_column="machine", spec=SPEC)
    pd.testing.assert_frame_equal(assembled.score_frame(fleet_rows[1]), fleet.score_frame(fleet_rows[1]))
    one = fit_asset(SPEC, fleet_rows[0][fleet_rows[0]["machine"] == "m00"].drop(columns="machine"))
    assert one.auto_reason is None and one.fit_seconds > 0


def test_bad_input_is_one_line(fleet, fleet_rows):
    with pytest.raises(DataError, match=r"column 'machine' that names each row's asset is missing"):
        fleet.score_frame(fleet_rows[1].drop(columns="machine"))
    other = make_detector("deviation").fit(fleet_rows[0].drop(columns="machine").rename(columns={"sensor_0": "x"}))
    with pytest.raises(DataError, match="a fleet's detectors share their sensors"):
        FleetDetector.from_detectors({"a": fleet.detectors_["m00"], "b": other})
    with pytest.raises(ConfigError, match="fallback must be None or 'shared'"):
        FleetDetector(SPEC, fallback="nearest").fit(fleet_rows[0])
    with pytest.raises(ConfigError, match="hidden_size sets a parameter of one model"):
        FleetDetector(FitSpec("auto", {"hidden_size": 3})).fit(fleet_rows[0])
    with pytest.raises(NotFittedError):
        FleetDetector(SPEC).score_frame(fleet_rows[1])
    assert asset_key(7.0) == asset_key("7") == "7"


def test_auto_configures_each_machine_and_the_shared_detector(fleet_rows):
    train = fleet_rows[0]
    two = train[train["machine"] != "m02"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec = FitSpec("auto", {"random_state": 0, "window_size": WINDOW, "networks": False})
        fleet = FleetDetector(spec, fallback="shared").fit(two)
    assert fleet.fitted_["m00"].auto_reason.startswith("auto: ")
    assert fleet.fitted_[FleetDetector.SHARED].candidates is not None
    assert fleet.fallback_detector_.window_size == WINDOW
