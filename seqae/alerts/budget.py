"""A threshold set by an alert budget (`alerts:per_day=N`, `alerts:per_1000_rows=N`)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from seqae.errors import ConfigError
from seqae.params import NoneOr, Real, Satisfies, check_params
from seqae.thresholds import Threshold
from seqae.alerts.rules import AlertRules


MIN_EMPIRICAL_ALERTS = 3  # below this many budgeted alerts on the calibration rows, extrapolate the tail


class AlertBudgetThreshold(Threshold):
    """The threshold that, with the alert rules, raises a budgeted number of alerts on normal rows.

    `alerts:per_1000_rows=1` (any data) or `alerts:per_day=1` (timestamped data: `rows_per_day`, set
    from the timestamps' usual step, turns it into rows). Fitted on calibration scores (normal rows
    held out from training) together with the rules (`rules_`, the alert rules to use with it):

    - When the budget allows at least 3 alerts on the calibration rows, the threshold is the lowest
      calibration score at which the rules raise at most the budgeted count there (a bisection over
      the calibration scores; the count falls as the threshold rises).
    - Otherwise (a tight budget, few calibration rows) it is extrapolated: an exponential tail of the
      scores times the alerts per row above a level, measured where the rules still raise 3 alerts
      (`_extrapolate`). Measured on generated normal scores this errs towards fewer alerts than
      budgeted (an upper bound): a guess beyond the data, to check on held-back rows.

    Tolerance (empirical budgets): on new normal data like the calibration rows and as long, the
    count is within 3 sqrt(N) + N / 4 of the budgeted N (Poisson noise, plus the threshold's own
    sampling error: it was fitted on one sample); tests/alerts/test_alerts.py checks it on generated
    normal scores.
    The rules' own parameters (`min_gap`, ...) are parameters of this threshold too, with the same
    defaults as `AlertRules`; the cooldown needs contributions, which a threshold never sees, so the
    count it fits is taken without it (conservative: the cooldown only removes alerts). The record
    rule (`AlertRules.record`) is off in a budget's rules: the budget sets how many alerts normal data
    raises, and whether a pattern beats the rows before it would make that count depend on their order.
    """

    kind = "alerts"
    parameter_constraints = {
        "per_1000_rows": NoneOr(Real(0.0, low_open=True), message="alerts per_1000_rows must be a positive "
                                                                  "number of alerts, got {value!r}"),
        "per_day": NoneOr(Real(0.0, low_open=True), message="alerts per_day must be a positive number of "
                                                            "alerts, got {value!r}"),
        "rows_per_day": NoneOr(Real(0.0, low_open=True), message="alerts rows_per_day must be a positive "
                                                                 "number of rows, got {value!r}"),
        "budget": Satisfies(lambda v, p: (p["per_1000_rows"] is None) != (p["per_day"] is None), "",
                            message="the alerts threshold takes exactly one budget: per_1000_rows=N (any "
                                    "data) or per_day=N (timestamped data), e.g. 'alerts:per_day=1'"),
        **{name: AlertRules.parameter_constraints[name] for name in ("min_gap", "min_length", "hysteresis",
                                                                      "extreme", "cooldown")},
    }
    RULE_PARAMS = ("min_gap", "min_length", "hysteresis", "extreme", "cooldown")  # the rest: AlertRules' defaults,
    # but for the record rule (off: see the class docstring)

    def __init__(self, per_1000_rows: float | None = None, per_day: float | None = None,
                 rows_per_day: float | None = None, min_gap: int = 10, min_length: int = 20,
                 hysteresis: float = 0.5, extreme: float = 3.0, cooldown: int = 120):
        self.per_1000_rows = per_1000_rows
        self.per_day = per_day
        self.rows_per_day = rows_per_day
        self.min_gap = min_gap
        self.min_length = min_length
        self.hysteresis = hysteresis
        self.extreme = extreme
        self.cooldown = cooldown

    def check_params(self) -> None:
        params = self.get_params(deep=False)
        check_params({**params, "budget": None}, self.parameter_constraints)

    def rule(self) -> str:
        budget = (f"{self.per_1000_rows:g} per 1000 rows" if self.per_1000_rows is not None
                  else f"{self.per_day:g} per day")
        return f"the lowest at which the alert rules raise at most {budget}"

    def budget_per_row(self) -> float:
        """The budget as alerts per row."""
        if self.per_1000_rows is not None:
            return float(self.per_1000_rows) / 1000.0
        if self.rows_per_day is None:
            raise ConfigError(f"threshold 'alerts:per_day={self.per_day}' needs the rows per day: fit on "
                              "timestamped data (seqae sets rows_per_day from the usual step) or pass "
                              "rows_per_day=N, or budget per 1,000 rows with 'alerts:per_1000_rows=N'")
        return float(self.per_day) / float(self.rows_per_day)

    def alert_rules(self) -> AlertRules:
        """The (unfitted) rules this threshold's parameters describe."""
        return AlertRules(**{name: getattr(self, name) for name in self.RULE_PARAMS}, record=0)

    def _fit_value(self, scores: np.ndarray) -> float:
        rate = self.budget_per_row()
        # The rules as they judge the calibration rows themselves: a reference that does not move.
        base = self.alert_rules().fit(scores, float(np.max(scores))).fixed()
        n = scores.size
        candidates = np.unique(scores[scores >= np.median(scores)])  # ascending

        def count(value: float) -> int:
            return len(base.with_threshold(value).apply(scores).alerts)

        def lowest_within(target: float) -> float:
            """The lowest candidate, coming down from the largest score, above which the count stays
            <= target. Far down the count falls again (everything merges into a few long alerts), so
            the search walks down from the top in doubling steps, then bisects the last step."""
            top = candidates.size - 1  # count(candidates[top]) = 0: nothing is above the largest score
            ok, step = top, 1
            while True:
                below = max(top - step, 0)
                if count(candidates[below]) > target:
                    break
                ok = below
                if below == 0:
                    return float(candidates[0])
                step *= 2
            lo, hi = below, ok  # count(lo) > target, count(hi) <= target
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (lo, mid) if count(candidates[mid]) <= target else (mid, hi)
            return float(candidates[hi])

        target = rate * n
        self.expected_calibration_alerts_ = float(target)
        if target >= MIN_EMPIRICAL_ALERTS:
            value = lowest_within(target)
            self.method_ = "empirical"
        else:
            value = self._extrapolate(scores, lambda level: base.with_threshold(level).apply(scores).alerts, target)
            self.method_ = "tail"
        self.rules_ = self.alert_rules().fit(scores, value)
        self.calibration_alerts_ = count(value)
        return value

    def _extrapolate(self, scores, count_alerts, target: float) -> float:
        """Rows above a level from an exponential tail, times alerts per row above it.

        The share of normal rows above a level x beyond the calibration scores' 0.9 quantile u is
        taken as 0.1 exp(-(x - u) / sigma), sigma their mean excess over u (the rules' tail,
        `NormalReference.severity`). Alerts per row above the level (theta) are measured at the highest
        of 40 levels from u to the largest score where the rules raise at least 3 alerts (1 when
        none does). The threshold is where theta times that share gives `target` alerts.

        Measured on generated normal scores (20,000 new rows, budgets of 0.05-1 per 1,000 rows fitted
        on 500-20,000 calibration rows): with min_length=5 the count came out at 0-2.5 times the
        budget (median 0.3); with the default min_length=20 no level of the calibration rows raises 3
        alerts, theta is 1 and the new rows raised none: an extrapolated budget is an upper bound.
        """
        n = scores.size
        reference = self.alert_rules().fit(scores, float(np.max(scores))).reference()
        low = float(np.quantile(scores, 0.9 if n >= 100 else 0.5))
        levels = np.unique(np.quantile(scores[scores >= low], np.linspace(0.0, 1.0, 40)))
        theta = 1.0
        for level in levels[::-1]:
            found = len(count_alerts(level))
            if found >= MIN_EMPIRICAL_ALERTS:
                theta = min(1.0, found / max(int(np.count_nonzero(scores > level)), 1))
                break
        self.alerts_per_exceedance_ = float(theta)
        needed = target / n / theta  # share of normal rows above the threshold
        if needed >= reference.tail_share:
            return float(np.quantile(scores, 1.0 - needed))
        return reference.tail_start + reference.tail_scale * math.log(reference.tail_share / needed)

    def _fitted_state(self) -> dict:
        return {"rules": self.rules_.to_dict(), "method": self.method_,
                "calibration_alerts": self.calibration_alerts_}

    def load_fitted_state(self, fitted: dict) -> None:
        if "rules" in fitted:
            self.rules_ = AlertRules.from_dict(fitted["rules"])
        self.method_ = fitted.get("method")
        self.calibration_alerts_ = fitted.get("calibration_alerts")


def rows_per_day(index) -> float | None:
    """Rows per day from a timestamp index's median step (None without timestamps or a step)."""
    if not isinstance(index, pd.DatetimeIndex) or len(index) < 2:
        return None
    steps = np.diff(index.values.astype("datetime64[ns]").astype(np.int64))
    step = float(np.median(steps[steps > 0])) if np.any(steps > 0) else 0.0
    return 86_400e9 / step if step > 0 else None
