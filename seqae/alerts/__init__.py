"""Flags -> alerts: the rules that turn a score series into intervals an operator can act on.

An alert says "something is wrong here, from then to then, mostly these sensors". Points above a
threshold are not alerts: on real data the flags of one anomaly come in pieces, and normal rows
cross any threshold now and then. `AlertRules` sits between the threshold and the alert table:

    scores ──threshold (open level)──> episodes ──hysteresis, gap, minimum length, cooldown──> alerts

The rules, in the order a row meets them (all counts in rows; `AlertTracker` runs them row by row):

- **open**: an episode opens at the first row whose score is above the threshold (`open_level_`).
- **hysteresis**: once it has fired, an alert stays on while the score is at or above the lower
  `close_level_` = centre + `hysteresis` × (threshold − centre), the centre being the median
  calibration score; so a score dithering around the threshold is one alert, not many. Before it
  fires, an episode is on only while above the threshold.
- **gap**: after the score falls below the close level, a score above the threshold within
  `min_gap` rows resumes the same episode (Merlion's `alm_window_minutes` merge); otherwise the
  episode ends at its last row at or above the close level, decided `min_gap` + 1 rows later.
- **minimum length**: an episode becomes an alert ("fires") at its `min_length`-th row above the
  threshold (Merlion's `min_alm_in_window`: rows below it, in a gap or above the close level only,
  are no evidence), or at once when a score reaches `extreme_level_` = centre + `extreme` × (threshold − centre) (telemanom's pruning keeps
  short sequences only when their peak stands out). An episode that ends before firing is dropped.
- **cooldown**: a new episode that opens within `cooldown` rows after an alert's end, with the same
  top sensor (the largest contribution on its first row) as that alert's, joins that alert instead
  of raising a new one (Merlion's `alm_suppress_minutes`, but the rows stay in the alert).

The row where an alert fires (`fired_at`) is when it would have been raised live; its `start` is
its first row above the threshold. Everything is causal: `AlertTracker.update` takes rows in chunks
of any size (down to one) and `AlertRules.apply` runs one tracker over the whole series, so both
give identical alerts; a row's alert id is settled once no later row can change it: at most
max(min_length × (min_gap + 1), cooldown + 1) rows after it (220 rows with the defaults), the
longest an episode can wait to fire or an ended alert can be rejoined.

Defaults, chosen without labels (benchmarks/quality/alerts.py): see `AlertRules`.

The alert table (`find_alerts`, `Alerts.table`): one row per alert with start, end, duration,
fired_at, peak time and score, the peak's conformal p-value and a severity (−log10 of the chance
that a normal row scores that high, from the calibration scores: comparable across sensors and
models), and the top sensors with their shares; `Alerts.alert_ids` gives each row its alert's id
(−1: none), the `alert_id` column of scored and served rows.

    rules.py   AlertRules and AlertTracker; table.py the alert table (find_alerts, alert_table);
    budget.py  AlertBudgetThreshold, the `alerts` threshold kind (`seqae.threshold_registry`).
"""

from seqae.alerts.rules import N_TAIL_SCORES, Alert, AlertRules, AlertTracker
from seqae.alerts.table import (ALERT_COLUMNS, Alerts, alert_records, alert_table, detection_alert_ids,
                                detection_alerts, find_alerts, fitted_rules, idle_warm_up)
from seqae.alerts.budget import MIN_EMPIRICAL_ALERTS, AlertBudgetThreshold, rows_per_day

__all__ = [
    "ALERT_COLUMNS", "MIN_EMPIRICAL_ALERTS", "N_TAIL_SCORES", "Alert", "AlertBudgetThreshold", "AlertRules",
    "AlertTracker", "Alerts", "alert_records", "alert_table", "detection_alert_ids", "detection_alerts",
    "find_alerts", "fitted_rules", "idle_warm_up", "rows_per_day",
]
