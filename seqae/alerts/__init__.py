"""Decisions an operator acts on: a model's raw scores -> calibrated scores -> flags -> alerts, as a
live feed has them.

A raw score means nothing on its own (a distance of 3 or of 1e8, depending on the file and the
model), and normal behaviour drifts away from the rows a model was fitted on. So every row is judged
against a **normal reference** (`reference.py`): the scores of normal rows held out at fit, plus the
feed's own recent rows judged normal. The rules, in the order a row meets them (counts in rows of
the feed; `AlertTracker` runs them one row after another, each row from the rows before it alone):

- **calibrated score**: (raw − the reference's median) / (threshold − median): 0 for a typical normal
  row, 1.0 at the model's threshold, comparable across files, models and machines. The threshold
  keeps its place among the reference's scores as they move (a 99 % quantile threshold stays the
  99 % quantile of recent normal scores).
- **burn-in**: the first `burn_in` rows scored of a feed teach the reference the feed's level and are
  not judged (`warming_up`).
- **episode**: rows whose calibrated score is above 1.0, closer than `min_gap` rows, are one episode;
  it fires (an alert opens, `fired_at`) once it has `min_length` rows above 1.0, on a row that
  stands `fire_level` times the threshold or more (an episode dithering just over 1.0 waits), or at
  once on a score `extreme` times the threshold. Once fired it stays on while the score is at least
  `hysteresis` (a score dithering around the threshold is one alert), and ends `min_gap` rows after
  its last row there.
- **record**: an episode fires only when its score beats every score of the `record` rows scored
  before it began (the rows an alert was on at left out, so an alert never hides the next one): a
  pattern no worse than what the feed showed lately without alerting is not news. `evidence`
  (opt-in) also asks the episode's scores above 1.0 to add up to that much beyond it (a CUSUM).
- **flag** (`is_anomaly`): a row an alert is on at, from the row it fired: what the operator is told
  about that row when it arrives. The rows of an episode before it fires, and short excursions above
  1.0 that never fire, are not flagged (their calibrated score says how high they were).
- **cooldown**: a new episode on the same top sensor within `cooldown` rows of an alert's end joins
  that alert; its close is final (the `close` event of `seqae watch`) once the cooldown has passed.
- **settle**: an alert still on `settle` rows after it fired is closed as a possible new normal
  (`reason` "settled"), and an episode that never fired but lasts that long is taken as one; their
  rows and the next `settle` rows join the reference, so a lasting change stops alerting.
- **learning**: a row joins the reference `delay` rows after it was scored, when it was not above
  1.0 and not part of an episode; at most `memory` recent rows are kept beside the calibration scores.
- **verdicts**: an episode that would fire where its window is like one an operator judged normal
  (`seqae.feedback`) fires hidden: not raised, no row flagged, the rules going on as for it; it is
  raised at its first row above 1.0 that is like no verdict.

The alert table (`find_alerts`, `Alerts.table`): one row per alert with start, end, duration,
fired_at, peak time, its calibrated and raw peak score, the chance that a normal row scores that
high (`p_value`, against the reference when it peaked, with an exponential tail beyond its largest
scores) and its −log10 (`severity`), the top sensors with their shares, and whether and why it
closed, and the labelled fault it is like (`like_fault`, `faults.py`). `Alerts.alert_ids` gives
each row its alert's id (−1: none).

    reference.py  the normal reference;  record.py  the record rule's sliding maximum;
    rules.py      AlertRules (parameters, calibration, saving);
    tracker.py    AlertTracker, the rules row by row;  table.py  the alert table;
    faults.py     an alert compared with the faults an operator labelled (MATCH_SIMILARITY);
    budget.py     AlertBudgetThreshold, the `alerts` threshold kind (`seqae.threshold_registry`).
"""

from seqae.alerts.reference import NormalReference
from seqae.alerts.rules import AlertRules
from seqae.alerts.alert import Alert
from seqae.alerts.tracker import AlertTracker, Decisions, Step
from seqae.alerts.faults import MATCH_SIMILARITY, like_fault, match_fault
from seqae.alerts.table import (ALERT_COLUMNS, Alerts, alert_records, alert_state_events, alert_table, find_alerts,
                                followed_levels)
from seqae.alerts.budget import MIN_EMPIRICAL_ALERTS, AlertBudgetThreshold, rows_per_day

__all__ = [
    "ALERT_COLUMNS", "MATCH_SIMILARITY", "MIN_EMPIRICAL_ALERTS", "Alert", "AlertBudgetThreshold", "AlertRules",
    "AlertTracker", "Alerts", "Decisions", "NormalReference", "Step", "alert_records", "alert_state_events",
    "alert_table", "find_alerts", "followed_levels", "like_fault", "match_fault", "rows_per_day",
]
