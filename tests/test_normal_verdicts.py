"""A normal verdict in process (`BaseDetector.learn_normal`): windows judged normal are consulted where an
alert would fire, and such an alert fires hidden; the scores, the normal reference and every other decision
stay the model's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from seqae.alerts import AlertRules
from seqae.detectors import BaseDetector, make_detector

WINDOW = 10
BUMPS = (150, 350)  # the same harmless bump, twice
SHIFT = 420  # a level shift of the first sensor from this row on: an anomaly no verdict was given on


def series(n: int, first: int, seed: int) -> pd.DataFrame:
    t = np.arange(first, first + n)
    rng = np.random.default_rng(seed)
    values = np.column_stack([np.sin(2 * np.pi * t / 50), np.cos(2 * np.pi * t / 50)]) + 0.02 * rng.normal(size=(n, 2))
    return pd.DataFrame(values, columns=["a", "b"], index=pd.date_range("2026-03-02", periods=n, freq="s"))


@pytest.fixture(scope="module")
def fitted():
    """An ensemble with a window memory (knn-window and deviation) fitted on a clean sine, and a test
    series with the bump twice and a level shift at its end."""
    detector = make_detector("ensemble", window_size=WINDOW, members=[["knn-window", {}], ["deviation", {}]])
    detector.fit(series(400, 0, 0))
    test = series(500, 400, 1)
    bump = 1.5 * np.hanning(30)
    for at in BUMPS:
        test.iloc[at:at + 30, 0] += bump
    test.iloc[SHIFT:, 0] += 3.0
    return detector, test


def alert_rows(detection) -> list[int]:
    return [alert.fired_at for alert in detection.alerts]


def near(rows: list[int], at: int) -> bool:
    return any(at <= row <= at + 40 for row in rows)


@pytest.fixture
def judged(fitted, tmp_path):
    """A copy of the fitted model that judged the first bump's alert normal, and the scores before it."""
    detector, test = fitted
    before = detector.detect(test)
    assert near(alert_rows(before), BUMPS[0]) and near(alert_rows(before), BUMPS[1]) and near(alert_rows(before), SHIFT)
    first = before.alerts[0]
    copy = BaseDetector.load(detector.save(tmp_path / "fitted"))
    copy.learn_normal(test.iloc[first.start - WINDOW + 1:first.end + 1])
    return copy, test, before


def without_record(detector, path) -> BaseDetector:
    """A copy of `detector` whose alert rules have no record rule (`AlertRules.record` 0)."""
    copy = BaseDetector.load(detector.save(path))
    rules = copy.alert_rules_
    copy.alert_rules_ = AlertRules.from_dict({**rules.to_dict(), "params": {**rules.get_params(), "record": 0}})
    return copy


def fired_from(detection, row: int) -> int:
    return next(a.fired_at for a in detection.alerts if a.fired_at >= row)


def test_a_normal_verdict_stops_the_pattern_not_the_anomaly_and_leaves_the_scores(judged, fitted, tmp_path):
    detector, test, before = judged
    after = detector.detect(test)
    rows = alert_rows(after)
    assert not near(rows, BUMPS[0]) and not near(rows, BUMPS[1]), rows  # the pattern, and its repeat
    assert near(rows, SHIFT), rows  # an anomaly no verdict covers still fires
    np.testing.assert_array_equal(after.raw_scores, before.raw_scores)  # the model's scores are its own
    # The bump judged normal is a row no alert was on at, in the record rule's 300 rows: the shift fires
    # once it scores higher than the bump, a few rows after it fired without the verdict at most; with
    # no record rule, at the very row.
    assert 0 <= fired_from(after, SHIFT) - fired_from(before, SHIFT) <= 5
    assert fired_from(without_record(detector, tmp_path / "judged").detect(test), SHIFT) == \
        fired_from(without_record(fitted[0], tmp_path / "plain").detect(test), SHIFT)


def test_windows_judged_normal_are_saved_with_the_model(judged, tmp_path):
    detector, test, _ = judged
    loaded = BaseDetector.load(detector.save(tmp_path / "m"))
    knn = loaded.members_[0]
    assert len(knn.verdicts()) == len(detector.members_[0].verdicts()) > 0
    assert alert_rows(loaded.detect(test)) == alert_rows(detector.detect(test))


def test_a_feed_in_pieces_and_restarted_from_its_state_decides_as_one_pass(judged):
    from seqae.detectors.feed import Feed

    detector, test, _ = judged
    whole = detector.detect(test)
    values, index = detector.check_input(test)
    feed, flags = Feed(detector), []
    for first in range(0, len(values), 37):
        if first == 185:  # a restart from the saved state, inside the repeated bump
            feed = Feed.from_state(detector, feed.state())
        detection, _ = feed.score(values[first:first + 37], index[first:first + 37])
        flags.append(detection.flags)
    feed.finish()
    np.testing.assert_array_equal(np.concatenate(flags), whole.flags)
    assert [a.fired_at for a in feed.tracker.alerts] == alert_rows(whole)
    for alert, kept in zip(feed.tracker.alerts, whole.alerts):  # the level each was raised at, across the restart
        np.testing.assert_array_equal(alert.followed_level, kept.followed_level)


def test_an_episode_like_a_verdict_fires_hidden_no_alert_no_flag_its_rows_out_of_the_reference():
    rules = AlertRules(min_length=2, burn_in=0, delay=0, memory=100).fit(np.linspace(0.0, 1.0, 200), 1.0)
    scores = np.r_[np.full(20, 0.5), np.full(10, 5.0), np.full(20, 0.5)]
    known = scores > 1.0  # the bump's windows are like those an operator judged normal

    plain, gated = rules.tracker(), rules.tracker()
    plain.update(scores)
    step = gated.update(scores, known=known)
    assert len(plain.alerts) == 1 and gated.alerts == []
    assert step.flags.sum() == 0
    assert (np.r_[step.alert_ids, gated.finish()] == -1).all()
    state = gated.reference.state()
    kept = state["joined"] + [value for _, value in state["waiting"]]
    assert len(kept) == 40 and 5.0 not in kept  # an alert's rows are not normal, hidden or raised
    with pytest.raises(Exception, match="known must hold one value per row"):
        rules.tracker().update(scores, known=known[:5])


def _bump_that_settles_then_a_smaller_one() -> tuple[AlertRules, np.ndarray, np.ndarray]:
    """A long bump (it settles: a possible new normal, whose rows lift the reference), then a smaller
    bump that fires only where the reference was not lifted."""
    rules = AlertRules(min_length=2, burn_in=0, delay=0, memory=100, settle=20, cooldown=5,
                       record=0).fit(np.linspace(0.0, 1.0, 200), 1.0)
    scores = np.r_[np.full(20, 0.5), np.full(40, 3.0), np.full(60, 0.5), np.full(10, 1.5), np.full(20, 0.5)]
    known = np.zeros(len(scores), dtype=bool)
    known[20:60] = True  # the long bump is like a pattern judged normal
    return rules, scores, known


def test_a_verdict_changes_nothing_but_the_alert_it_hides():
    """Without the verdict the long bump's alert settles and its rows lift the reference, so the
    smaller bump after it does not fire; hidden, the alert settles all the same, and the rest of the
    feed is decided as without the verdict (before hidden alerts, the bump's rows were kept out of
    the reference and the smaller bump fired: a verdict that raised a false alert)."""
    rules, scores, known = _bump_that_settles_then_a_smaller_one()
    plain, gated = rules.tracker(), rules.tracker()
    plain_step, gated_step = plain.update(scores), gated.update(scores, known=known)
    assert [a.reason for a in plain.alerts] == ["settled"] and gated.alerts == []
    np.testing.assert_array_equal(gated_step.scores, plain_step.scores)  # the same reference throughout
    np.testing.assert_array_equal(gated_step.flags[60:], plain_step.flags[60:])
    assert gated_step.flags[:60].sum() == 0 and plain_step.flags[20:60].sum() > 0
    assert gated.reference.state() == plain.reference.state()


def test_a_hidden_alert_is_raised_at_its_first_row_like_no_verdict():
    rules = AlertRules(min_length=2, burn_in=0, delay=0, memory=100).fit(np.linspace(0.0, 1.0, 200), 1.0)
    scores = np.r_[np.full(20, 0.5), np.full(20, 4.0), np.full(20, 0.5)]
    known = np.zeros(len(scores), dtype=bool)
    known[20:30] = True  # the episode's first half is like a verdict, its second half is not
    tracker = rules.tracker()
    step = tracker.update(scores, known=known)
    ids = np.r_[step.alert_ids, tracker.finish()]
    [alert] = tracker.alerts
    assert (alert.alert_id, alert.start, alert.fired_at, alert.hidden) == (0, 20, 30, False)
    assert step.flags[:30].sum() == 0 and step.flags[30:40].all()  # flagged from the row it was raised at
    assert (ids[20:40] == 0).all()  # its rows from its start, as any alert's


def test_a_tracker_restarted_inside_a_hidden_alert_decides_as_one_pass():
    from seqae.alerts import AlertTracker

    rules, scores, known = _bump_that_settles_then_a_smaller_one()
    whole = rules.tracker()
    one = whole.update(scores, known=known)
    one_ids = np.r_[one.alert_ids, whole.finish()]
    for cut in (30, 36):  # inside the hidden alert, and (settle 20 after it fired at 21) after it settled
        first = rules.tracker()
        head = first.update(scores[:cut], known=known[:cut])
        if cut == 30:
            assert first.state()["episode"]["hidden"] is True
        again = AlertTracker.from_state(rules, first.state())
        tail = again.update(scores[cut:], known=known[cut:])
        np.testing.assert_array_equal(np.r_[head.flags, tail.flags], one.flags)
        np.testing.assert_array_equal(np.r_[head.scores, tail.scores], one.scores)
        np.testing.assert_array_equal(np.r_[head.alert_ids, tail.alert_ids, again.finish()], one_ids)


def test_a_verdict_raised_on_a_moved_level_stops_its_repeat_on_the_next_level(tmp_path):
    """The first sensor's level creeps up by 2 (the feed follows it), the bump fires and is judged
    normal, the level creeps up by 2 more, the bump recurs: it opens no alert; a bump on the other
    sensor still fires (at the row it fired at without the verdict, but for the record rule)."""
    detector = make_detector("ensemble", window_size=WINDOW, members=[["knn-window", {}], ["deviation", {}]])
    detector.fit(series(400, 0, 0))
    ramp, first_bump = 2000, 2800
    second_bump = first_bump + 200 + ramp + 500
    other = second_bump + 150
    test = series(other + 200, 400, 1)
    t = np.arange(len(test))
    test.iloc[:, 0] += 2.0 * (np.clip((t - 300) / ramp, 0, 1) + np.clip((t - first_bump - 200) / ramp, 0, 1))
    for at in (first_bump, second_bump):
        test.iloc[at:at + 30, 0] += np.hanning(30)
    test.iloc[other:other + 30, 1] += 2.5 * np.hanning(30)  # clearly above the repeat judged normal (the record rule)

    before = detector.detect(test)
    rows = alert_rows(before)
    assert near(rows, first_bump) and near(rows, second_bump) and near(rows, other), rows
    judged = next(a for a in before.alerts if first_bump <= a.fired_at <= first_bump + 40)
    np.testing.assert_allclose(judged.followed_level[0] - detector.level_reference_[0], 2.0, atol=0.1)  # the level followed
    plain = without_record(detector, tmp_path / "plain")
    detector.learn_normal(test.iloc[judged.start - WINDOW + 1:judged.end + 1], followed_level=judged.followed_level)
    detector = BaseDetector.load(detector.save(tmp_path / "judged"))

    after = detector.detect(test)
    rows = alert_rows(after)
    assert not near(rows, first_bump) and not near(rows, second_bump), rows
    # the other sensor's bump fires once it scores higher than the repeat judged normal 150 rows before
    # it (the record rule), a few rows later at most; with no record rule, at the very row
    assert 0 <= fired_from(after, other) - fired_from(before, other) <= 10
    assert fired_from(without_record(detector, tmp_path / "judged-plain").detect(test), other) == \
        fired_from(plain.detect(test), other)


def test_the_gate_is_asked_of_the_rows_above_the_flag_level_alone_and_decides_as_on_every_row(judged):
    """A tracker given the rows' verdicts up front, and one asking them of the rows above the flag
    level only (as a feed does), make the same decisions."""
    detector, test, _ = judged
    detection = detector.detect(test)
    values, _ = detector.check_input(test)
    known = detector.like_verdicts(values)
    assert known.any()
    asked = []

    def ask(rows):
        asked.extend(rows.tolist())
        return known[rows]

    every, above = detector.alert_rules_.tracker(), detector.alert_rules_.tracker()
    step = every.update(detection.raw_scores, detection.contributions, known=known)
    lazy = above.update(detection.raw_scores, detection.contributions, known=ask)
    np.testing.assert_array_equal(lazy.flags, step.flags)
    np.testing.assert_array_equal(np.concatenate([lazy.alert_ids, above.finish()]),
                                  np.concatenate([step.alert_ids, every.finish()]))
    assert [(a.start, a.end, a.fired_at) for a in above.alerts] == [(a.start, a.end, a.fired_at) for a in every.alerts]
    above_level = (np.nan_to_num(step.scores, nan=-np.inf) > every.level) & ~step.warming_up
    assert asked == np.flatnonzero(above_level).tolist()
    assert 0 < len(asked) < len(test) // 3  # the bumps and the shift
