"""The alert rules on hand-built score series, their row-by-row runner, the normal reference that moves
with the feed, the alert table and the budget."""

import json

import numpy as np
import pandas as pd
import pytest

from seqae.alerts import ALERT_COLUMNS, AlertBudgetThreshold, AlertRules, find_alerts, rows_per_day
from seqae.errors import ConfigError, DataError, NotFittedError
from seqae.threshold_registry import parse_threshold, threshold_from_dict

# Calibration scores with median 0, threshold 1: a calibrated score equals the raw one, the close level
# is `hysteresis` and the extreme level `extreme`. The hand-computed cases keep the reference still
# (memory 0) and judge from the first row (burn_in 0): the rules alone.
CALIBRATION = np.zeros(99)


def rules(**params) -> AlertRules:
    base = {"min_gap": 0, "min_length": 1, "hysteresis": 1.0, "extreme": 10.0, "cooldown": 0, "settle": 0,
            "burn_in": 0, "memory": 0, "record": 0}
    return AlertRules(**{**base, **params}).fit(CALIBRATION, 1.0)


def found_and_ids(fitted, scores, contributions=None):
    decisions = fitted.apply(np.asarray(scores, dtype=np.float64), contributions)
    return decisions.alerts, decisions.alert_ids


def spans(found):
    return [(a.start, a.end, a.fired_at) for a in found]


H, L, M = 2.0, 0.0, 0.7  # above the threshold, normal, between the close level 0.5 and the threshold


@pytest.mark.parametrize("params, scores, expected", [
    # no rules: each run of flags is an alert
    ({}, [L, H, H, L, H, L, L, H], [(1, 2, 1), (4, 4, 4), (7, 7, 7)]),
    # gap: flags at most min_gap rows apart are one alert, fired at its first row
    ({"min_gap": 1}, [L, H, L, H, L, L, H, L], [(1, 3, 1), (6, 6, 6)]),
    ({"min_gap": 2}, [L, H, L, H, L, L, H, L], [(1, 6, 1)]),
    # minimum length: short episodes are dropped, a long one fires on its min_length-th row
    ({"min_length": 3}, [H, H, L, H, H, H, H, L, H], [(3, 6, 5)]),
    # fire level: a long enough episode fires on its first row that stands that far above the threshold
    ({"min_length": 2, "fire_level": 1.5}, [L, 1.2, 1.2, 1.2, 1.6, L], [(1, 4, 4)]),
    ({"min_length": 2, "fire_level": 1.0}, [L, 1.2, 1.2, 1.2, 1.6, L], [(1, 4, 2)]),
    ({"min_length": 2, "fire_level": 1.5}, [L, 1.2, 1.2, 1.2, L, L], []),  # it never stood clear of it
    # ... unless a score is extreme: it fires at once
    ({"min_length": 3, "extreme": 3.0}, [H, L, L, 5.0, L, H, H, H], [(3, 3, 3), (5, 7, 7)]),
    # the flags on either side of a gap count towards the length, the gap rows do not
    ({"min_length": 4, "min_gap": 2}, [H, L, L, H, L, L, L, H, L], []),
    ({"min_length": 4, "min_gap": 2}, [H, L, L, H, H, H, L, L, L], [(0, 5, 5)]),
    # rows between the close level and the threshold keep an alert on but are no evidence
    ({"min_length": 3, "hysteresis": 0.5}, [H, M, M, M, H, L, H, H, H], [(6, 8, 8)]),
    # hysteresis: a score between the close level and the threshold keeps the alert on
    ({"hysteresis": 0.5}, [L, H, M, M, H, M, L, M, H], [(1, 5, 1), (8, 8, 8)]),
    ({"hysteresis": 1.0}, [L, H, M, M, H, M, L, M, H], [(1, 1, 1), (4, 4, 4), (8, 8, 8)]),
    # a score between the levels after the alert closed does not reopen it
    ({"hysteresis": 0.5, "min_gap": 1}, [H, L, M, L, L], [(0, 0, 0)]),
    # an episode that ends before its min_length is dropped, even at the end of the data
    ({"min_length": 3}, [L, L, H, H], []),
    # record: an episode fires only when it beats every score of the `record` rows before it began
    ({"record": 3, "min_length": 2}, [H, L, L, L, H, H, L], [(4, 5, 5)]),  # row 0 is 4 rows back: out of it
    ({"record": 5, "min_length": 2}, [H, L, L, L, H, H, L], []),  # no higher than row 0, which raised nothing
    ({"record": 5, "min_length": 2}, [H, L, L, L, H, 3.0, L], [(4, 5, 5)]),
    # ... the rows an alert was on at are no record: an alert never hides the next one
    ({"record": 5}, [L, H, L, L, L, H, L], [(1, 1, 1), (5, 5, 5)]),
    # ... by its peak so far: it fires on the row that makes it a record, once it is long enough
    ({"record": 10, "min_length": 2}, [H, H, L, L, H, 2.5, L], [(0, 1, 1), (4, 5, 5)]),
    ({"record": 10, "min_length": 2}, [H, H, L, L, H, H, 2.5, L], [(0, 1, 1), (4, 6, 6)]),
])
def test_rules_give_the_hand_computed_alerts(params, scores, expected):
    decisions = rules(**params).apply(np.asarray(scores))
    found, ids = decisions.alerts, decisions.alert_ids
    np.testing.assert_allclose(decisions.scores, scores, rtol=1e-12)  # calibrated = raw with this calibration
    assert spans(found) == expected
    # a flag is a row an alert is on at, from the row it fired: at or above its close level
    close = params.get("hysteresis", 1.0)
    on = np.zeros(len(scores), dtype=bool)
    for _, end, fired_at in expected:
        on[fired_at:end + 1] = True
    np.testing.assert_array_equal(decisions.flags, on & (np.asarray(scores) >= close))
    want = np.full(len(scores), -1)
    for k, (start, end, _) in enumerate(expected):
        want[start:end + 1] = k
    assert ids.tolist() == want.tolist()


def test_cooldown_joins_an_alert_of_the_same_sensor_and_not_of_another():
    scores = np.array([H, H, L, L, L, H, L, L, L, H, L])
    sensor = np.array([0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0])  # the top sensor of each row
    contributions = np.eye(2)[sensor] * scores[:, None]
    found, ids = found_and_ids(rules(cooldown=3), scores, contributions)
    # row 5 (sensor 0, 3 rows after the end) joins alert 0; row 9 (sensor 1) is a new alert
    assert spans(found) == [(0, 5, 0), (9, 9, 9)]
    assert ids.tolist() == [0, 0, 0, 0, 0, 0, -1, -1, -1, 1, -1]
    found, _ = found_and_ids(rules(cooldown=2), scores, contributions)  # 3 rows after: beyond a cooldown of 2
    assert spans(found) == [(0, 1, 0), (5, 5, 5), (9, 9, 9)]
    found, _ = found_and_ids(rules(cooldown=3), scores)  # no contributions: no sensor to compare, no join
    assert spans(found) == [(0, 1, 0), (5, 5, 5), (9, 9, 9)]


def test_an_alert_closes_for_good_once_its_cooldown_has_passed():
    """A close followed by a new episode on the same sensors within the cooldown is one alert: a feed
    reports it open once and closed once, when the cooldown has passed (never closed and reopened)."""
    scores = np.array([H, H, L, L, L, H, L, L, L, L, L, L])
    contributions = np.c_[scores, np.zeros(12)]
    tracker = rules(cooldown=3).tracker()
    states = []
    for row in range(len(scores)):
        tracker.update(scores[row:row + 1], contributions[row:row + 1])
        states.append(tracker.alerts[0].closed if tracker.alerts else None)
    # on from row 0; rejoined at row 5 (3 rows after its end at 1); final once 3 more rows passed its new end
    assert states == [False] * 10 + [True] * 2
    assert len(tracker.alerts) == 1 and tracker.alerts[0].reason == "ended"


def test_the_end_of_the_data_keeps_a_fired_alert_open():
    found, _ = found_and_ids(rules(min_gap=5), [L, H, H, L])
    assert spans(found) == [(1, 2, 1)] and found[0].closed is False and found[0].reason == ""
    found, _ = found_and_ids(rules(min_gap=1), [L, H, H, L, L, L])
    assert found[0].closed is True and found[0].reason == "ended"


def random_feed(seed: int, n: int, n_spikes: int):
    """(scores, contributions, fitted rules): `n` smoothed exponential scores over 3 sensors with
    `n_spikes` spikes of +6, and rules fitted on 200 other draws at threshold 1.6; the same draws
    for the same seed."""
    rng = np.random.default_rng(seed)
    scores = np.convolve(rng.exponential(size=n), np.ones(3) / 3, mode="same")
    scores[rng.integers(0, n, n_spikes)] += 6.0
    contributions = rng.dirichlet(np.ones(3), size=n) * scores[:, None]
    fitted = AlertRules(min_gap=4, min_length=3, hysteresis=0.5, extreme=3.0, cooldown=12, settle=60, burn_in=20,
                        delay=5, memory=150, record=0).fit(rng.exponential(size=200), 1.6)
    return scores, contributions, fitted


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64])
def test_row_by_row_equals_the_whole_series(seed, chunk):
    n = 400
    scores, contributions, fitted = random_feed(seed, n, n_spikes=5)
    whole = fitted.apply(scores, contributions)
    tracker = fitted.tracker()
    steps = [tracker.update(scores[i:i + chunk], contributions[i:i + chunk]) for i in range(0, n, chunk)]
    ids = np.concatenate([step.alert_ids for step in steps] + [tracker.finish()])
    assert ids.tolist() == whole.alert_ids.tolist()
    np.testing.assert_array_equal(np.concatenate([step.scores for step in steps]), whole.scores)
    np.testing.assert_array_equal(np.concatenate([step.flags for step in steps]), whole.flags)
    assert spans(tracker.alerts) == spans(whole.alerts) and len(whole.alerts) > 1
    assert len(tracker.reference.joined) > 0  # the reference moved with the feed, the same in any chunks


@pytest.mark.parametrize("chunk", [1, 7, 64])
def test_the_record_rule_gives_the_same_alerts_in_any_chunks_and_across_a_restart(chunk):
    n = 600
    scores, contributions, fitted = random_feed(2, n, n_spikes=12)
    fitted = AlertRules(**{**fitted.get_params(), "record": 120}).fit(fitted.calibration_, 1.6)
    whole = fitted.apply(scores, contributions)
    tracker = fitted.tracker()
    ids = []
    for first in range(0, n, chunk):
        if first >= 300 and first - chunk < 300:  # a restart from its saved state, in the middle of the feed
            tracker = type(tracker).from_state(fitted, json.loads(json.dumps(tracker.state())))
        ids.append(tracker.update(scores[first:first + chunk], contributions[first:first + chunk]).alert_ids)
    ids.append(tracker.finish())
    assert np.concatenate(ids).tolist() == whole.alert_ids.tolist()
    assert spans(tracker.alerts) == spans(whole.alerts)
    # the rule holds back alerts the same rules without it raise, and never raises one of its own
    without = AlertRules(**{**fitted.get_params(), "record": 0}).fit(fitted.calibration_, 1.6).apply(scores, contributions)
    assert 0 < len(whole.alerts) < len(without.alerts)
    unflagged = np.where(whole.flags == 1, -np.inf, scores)  # the rows an alert was on at are no record
    for alert in whole.alerts:
        assert alert.peak_raw > unflagged[max(0, alert.start - 120):alert.start].max(initial=-np.inf)


def test_rules_save_and_load_as_json_and_give_the_same_alerts():
    rng = np.random.default_rng(3)
    scores = rng.exponential(size=300)
    fitted = AlertRules(min_gap=3, cooldown=7).fit(rng.exponential(size=100), 2.0)
    again = AlertRules.from_dict(json.loads(json.dumps(fitted.to_dict())))
    assert again.get_params() == fitted.get_params()
    assert spans(again.apply(scores).alerts) == spans(fitted.apply(scores).alerts)
    np.testing.assert_array_equal(again.apply(scores).scores, fitted.apply(scores).scores)
    assert again.threshold_value == fitted.threshold_value == pytest.approx(2.0)
    assert AlertRules.from_dict(AlertRules(min_gap=3).to_dict()).get_params()["min_gap"] == 3
    with pytest.raises(DataError, match="fit the model again"):  # rules saved before they kept a calibration
        AlertRules.from_dict({"params": {}, "fitted": {"center": 0.0, "open_level": 1.0}})


def test_rules_saved_before_a_rule_existed_decide_without_it():
    saved = AlertRules().fit(CALIBRATION, 1.0).to_dict()
    for added in AlertRules.ABSENT_MEANS:
        del saved["params"][added]
    again = AlertRules.from_dict(saved).get_params()
    assert {name: again[name] for name in AlertRules.ABSENT_MEANS} == {"evidence": 0.0, "record": 0, "fire_level": 1.0}
    assert AlertRules().get_params()["fire_level"] > 1.0  # what a model fitted now decides with


@pytest.mark.parametrize("params, message", [
    ({"min_gap": -1}, "min_gap must be a whole number of rows >= 0"),
    ({"min_length": 0}, "min_length must be a whole number of rows >= 1"),
    ({"hysteresis": 1.5}, "hysteresis must be between 0"),
    ({"extreme": 0.5}, "extreme must be >= 1"),
    ({"fire_level": 0.9}, "fire_level must be >= 1"),
    ({"settle": -1}, "settle must be a whole number of rows >= 0"),
    ({"memory": 1.5}, "memory must be a whole number of scores >= 0"),
])
def test_bad_rule_parameters_are_refused(params, message):
    with pytest.raises(ConfigError, match=message):
        AlertRules(**params).fit(CALIBRATION, 1.0)


def test_unfitted_rules_and_bad_scores_are_refused():
    with pytest.raises(NotFittedError, match="fit"):
        AlertRules().apply([1.0])
    with pytest.raises(DataError, match="non-finite"):
        AlertRules().fit([0.0, np.nan], 1.0)
    with pytest.raises(ConfigError, match="no parameter 'gap'"):
        AlertRules.from_dict({"params": {"gap": 3}})
    with pytest.raises(ConfigError, match="flag level must be a positive number"):
        rules().tracker(level=0.0)
    decisions = rules().apply([0.0, np.nan, 2.0])  # a row without a score yet decides nothing
    assert decisions.warming_up.tolist() == [False, True, False] and decisions.flags.tolist() == [0, 0, 1]


def test_alert_table_names_times_sensors_and_severity():
    index = pd.date_range("2026-03-01", periods=12, freq="min", tz="UTC")
    scores = np.array([L, 3, 5, 3, L, L, L, L, 9, 9, L, L])
    contributions = np.zeros((12, 2))
    contributions[:, 0], contributions[:, 1] = 0.75 * scores, 0.25 * scores
    contributions[8:10] = np.c_[0.1 * scores[8:10], 0.9 * scores[8:10]]
    calibration = np.random.default_rng(0).uniform(0.0, 2.0, size=500)
    fitted = AlertRules(min_gap=1, min_length=2, burn_in=0, memory=0).fit(calibration, 2.5)
    alerts = find_alerts(index, scores, contributions, fitted, ["pump", "valve"])
    table = alerts.table
    assert list(table.columns) == ALERT_COLUMNS
    assert table["start"].tolist() == [index[1], index[8]] and table["end"].tolist() == [index[3], index[9]]
    assert table["fired_at"].tolist() == [index[2], index[8]]  # 9 is extreme: it fires at once
    assert table["duration"].tolist() == [pd.Timedelta(minutes=2), pd.Timedelta(minutes=1)]
    assert table["peak_time"].tolist() == [index[2], index[8]]
    assert table["top_sensor"].tolist() == ["pump", "valve"]
    assert table["top_sensors"].tolist() == ["pump (75%), valve (25%)", "valve (90%), pump (10%)"]
    # both peaks lie above every calibration score: the exponential tail still tells them apart
    assert (table["p_value"] < 1 / 501).all() and table["p_value"].iloc[1] < table["p_value"].iloc[0]
    assert table["severity"].iloc[1] > table["severity"].iloc[0] > np.log10(501)
    median = np.median(calibration)  # a calibrated score: 0 at the median normal score, 1 at the threshold
    assert table["peak_score"].tolist() == pytest.approx([(5 - median) / (2.5 - median), (9 - median) / (2.5 - median)])
    assert table["peak_raw_score"].tolist() == [5.0, 9.0]
    assert alerts.alert_ids.tolist() == [-1, 0, 0, 0, -1, -1, -1, -1, 1, 1, -1, -1]
    assert alerts.counts() == {"n_alerts": 2, "n_alert_rows": 5}


def test_severity_tells_apart_peaks_just_beyond_every_normal_score():
    """Peaks a little above the largest normal score, where an exponential tail fitted to the top
    tenth still gives more than 1 / (n + 1): each peak its own severity, growing with it."""
    calibration = np.random.default_rng(0).uniform(0.0, 2.0, size=500)
    reference = AlertRules(memory=0).fit(calibration, 1.9).reference()
    top = calibration.max()
    severities = [reference.severity(top + step) for step in (0.0, 1e-6, 0.02, 0.05, 0.1, 0.3)]
    assert severities[0] == pytest.approx(np.log10(501 / 2))  # the largest normal score itself: 2 of 501
    assert severities[1] == pytest.approx(np.log10(501), abs=1e-3)  # just beyond it: 1 of 501
    assert all(later > earlier for earlier, later in zip(severities, severities[1:])), severities
    assert reference.severity(top - 0.01) <= severities[0]


def test_find_alerts_takes_fitted_rules_at_another_threshold_or_level():
    fitted = rules(min_length=1)
    assert find_alerts(pd.RangeIndex(4), [0.0, 2.0, 3.5, 0.0], None, fitted).spans() == [(1, 2)]
    assert find_alerts(pd.RangeIndex(4), [0.0, 2.0, 3.5, 0.0], None, fitted, threshold=3.0).spans() == [(2, 2)]
    assert find_alerts(pd.RangeIndex(4), [0.0, 2.0, 3.5, 0.0], None, fitted, level=3.0).spans() == [(2, 2)]


# ---- the alert budget --------------------------------------------------------------------------------


def normal_scores(n, rng):
    """Serially correlated normal scores (a 3-row moving mean of squared Gaussians)."""
    return np.convolve(rng.normal(size=n) ** 2, np.ones(3) / 3, mode="same")


def test_the_budget_is_found_by_parse_threshold_and_saves():
    threshold = parse_threshold("alerts:per_day=2")
    assert isinstance(threshold, AlertBudgetThreshold) and threshold.per_day == 2
    with pytest.raises(ConfigError, match="needs the rows per day"):
        threshold.fit(np.arange(100.0))
    with pytest.raises(ConfigError, match="exactly one budget"):
        parse_threshold("alerts")
    with pytest.raises(ConfigError, match="exactly one budget"):
        parse_threshold("alerts:per_day=1,per_1000_rows=1")
    fitted = parse_threshold("alerts:per_1000_rows=5,min_gap=3").fit(normal_scores(2000, np.random.default_rng(0)))
    again = threshold_from_dict(json.loads(json.dumps(fitted.to_dict())))
    assert again.value_ == fitted.value_ and again.rules_.get_params() == fitted.rules_.get_params()
    assert again.rules_.threshold_value == pytest.approx(fitted.value_) and fitted.rules_.min_gap == 3


@pytest.mark.parametrize("per_1000_rows", [1, 3])
def test_the_budget_gives_its_count_on_new_normal_data(per_1000_rows):
    """The stated tolerance: on each new normal series as long as the calibration rows, the count is
    within 3 sqrt(N) + N / 4 of the budgeted N."""
    rng = np.random.default_rng(per_1000_rows)
    n = 20_000
    threshold = AlertBudgetThreshold(per_1000_rows=per_1000_rows).fit(normal_scores(n, rng))
    assert threshold.method_ == "empirical"
    budget = per_1000_rows * n / 1000
    assert abs(threshold.calibration_alerts_ - budget) <= 3 * np.sqrt(budget)
    still = threshold.rules_.fixed()  # the count the budget was fitted for: the calibration's own reference
    counts = [len(still.apply(normal_scores(n, rng)).alerts) for _ in range(4)]
    assert all(abs(count - budget) <= 3 * np.sqrt(budget) + budget / 4 for count in counts), counts


def test_a_tight_budget_extrapolates_the_tail():
    rng = np.random.default_rng(7)
    threshold = AlertBudgetThreshold(per_1000_rows=0.5).fit(normal_scores(1000, rng))
    assert threshold.method_ == "tail" and threshold.value_ > threshold.rules_.reference().median
    counts = [len(threshold.rules_.fixed().apply(normal_scores(20_000, rng)).alerts) for _ in range(4)]
    assert np.mean(counts) <= 10 * 3, counts  # the extrapolation errs towards fewer: never a flood


def test_rows_per_day_from_timestamps():
    assert rows_per_day(pd.date_range("2026-01-01", periods=5, freq="s")) == 86_400
    assert rows_per_day(pd.RangeIndex(5)) is None


def test_chunked_scoring_builds_the_same_table_from_the_times_it_kept():
    rng = np.random.default_rng(5)
    n = 500
    index = pd.date_range("2026-03-01", periods=n, freq="s", tz="UTC")
    scores = 0.3 * np.convolve(rng.exponential(size=n), np.ones(4) / 4, mode="same")
    scores[100:140] += 3.0
    scores[300] += 9.0
    contributions = rng.dirichlet(np.ones(3), size=n) * scores[:, None]
    calibration = rng.exponential(size=300)
    whole = find_alerts(index, scores, contributions, AlertRules().fit(calibration, 2.0), ["a", "b", "c"])
    tracker = whole.rules.tracker()
    ids = [tracker.update(scores[i:i + 37], contributions[i:i + 37], index[i:i + 37]).alert_ids
           for i in range(0, n, 37)]
    ids.append(tracker.finish())
    from seqae.alerts import alert_table

    chunked = alert_table(tracker.alerts, None, ["a", "b", "c"])
    pd.testing.assert_frame_equal(chunked, whole.table)
    assert np.concatenate(ids).tolist() == whole.alert_ids.tolist() and len(whole.table) >= 2


def test_alerts_of_a_fitted_detector():
    from seqae.detectors import DeviationDetector
    from seqae.synthetic import make_sensor_data

    frame, labels, injected = make_sensor_data(1200, 3, normal_rows=600, anomalies=("level_shift",),
                                               anomaly_length=150, random_state=2)
    detector = DeviationDetector().fit(frame.iloc[:450])
    # the feed starts 150 normal rows before the shift: its first rows calibrate the reference (burn-in)
    alerts = detector.find_alerts(detector.detect(frame.iloc[450:]))
    shift = injected[0]
    hit = alerts.table[(alerts.table["fired_at"] >= frame.index[shift.start])
                       & (alerts.table["fired_at"] <= frame.index[shift.end])]
    assert len(hit) >= 1 and (hit["top_sensor"] == shift.sensor).all()
    assert len(alerts.alert_ids) == 750


def test_rows_are_settled_within_the_stated_bound():
    fitted = rules(min_length=3, min_gap=2, hysteresis=0.5, cooldown=4)
    bound = max(3 * (2 + 1), 4 + 1)
    rng = np.random.default_rng(11)
    scores = rng.choice([L, M, H], size=2000, p=[0.5, 0.4, 0.1])
    tracker = fitted.tracker()
    settled = 0
    for row in range(len(scores)):
        settled += len(tracker.update(scores[row:row + 1]).alert_ids)
        assert row + 1 - settled <= bound
    # a score between the levels does not keep an episode that has not fired waiting
    tracker = fitted.tracker()
    assert len(tracker.update(np.r_[H, np.full(100, M)]).alert_ids) >= 101 - bound


def test_a_tracker_that_forgets_keeps_its_last_alerts_and_counts_on():
    """forget(keep) after every chunk: the alerts kept are the last ones of a tracker that keeps all,
    ids going on; a state written with alerts forgotten restores and gives the same alerts after."""
    n = 600
    scores, contributions, fitted = random_feed(5, n, n_spikes=12)
    decisions = fitted.apply(scores, contributions)
    whole, whole_ids = decisions.alerts, decisions.alert_ids
    tracker = fitted.tracker()
    ids = []
    for first in range(0, n, 7):
        if first == 301:  # a restart from a state written with alerts forgotten
            tracker = type(tracker).from_state(fitted, json.loads(json.dumps(tracker.state())))
        ids.append(tracker.update(scores[first:first + 7], contributions[first:first + 7]).alert_ids)
        tracker.forget(2)
        assert len(tracker.alerts) <= 3  # the last two, and one that can still change
    ids.append(tracker.finish())
    assert len(whole) > 4 and tracker.n_alerts == len(whole)
    assert np.concatenate(ids).tolist() == whole_ids.tolist()
    assert spans(tracker.alerts) == spans(whole)[-len(tracker.alerts):]
