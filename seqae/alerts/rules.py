"""The alert rules: how a model's raw scores become calibrated scores, flags and alerts, saved with the model.

`AlertRules` holds the parameters and, once fitted, the calibration (normal scores the model was not
trained on, and where the threshold sits among them); `tracker()` runs them over a feed
(`seqae.alerts.tracker.AlertTracker`), `apply` over a whole series.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator

from seqae.alerts.reference import SPREAD_QUANTILE, NormalReference, quantile_of_sorted, sorted_sample
from seqae.errors import ConfigError, DataError, NotFittedError
from seqae.params import Integer, Real, check_params, is_real
from seqae.thresholds import Threshold


class AlertRules(BaseEstimator):
    """What turns a feed's raw scores into decisions an operator acts on (`seqae.alerts`).

    Args (counts in rows of the feed):
        min_gap: flagged rows separated by at most this many rows below the close level are one episode.
        min_length: flagged rows an episode needs before it fires.
        fire_level: ... and it fires on a row whose calibrated score is at least this many times the
            flag level (1.0: on its `min_length`-th row, however close to the level it is), so that an
            episode dithering just over the threshold is not raised until it stands clear of it.
        hysteresis: once fired, an alert stays on while its calibrated score is at least this share
            of the flag level (0.5: half way between a typical normal score and the threshold).
        extreme: an episode fires at once on a calibrated score this many times the flag level.
        cooldown: rows after an alert's end during which a new episode with the same top sensor
            joins it (the alert goes on, with the rows between); its close is final after them.
        settle: an alert still on this many rows after it fired is closed as a possible new normal,
            and an episode that never fired but lasts this long is taken as one; their rows, and
            every row of the next `settle` rows, join the normal reference (no alert opens then).
        burn_in: the first rows scored of a feed calibrate the reference to the feed's level and are
            not judged (their `warming_up` is 1).
        delay: rows before a row judged normal joins the reference (an anomaly's first rows cannot
            teach it that the anomaly is normal before the rules see it).
        memory: recent normal scores the reference keeps beside the calibration scores (0: it never
            moves; the threshold stays the fitted value).
        evidence: an episode fires only once its calibrated scores above the flag level add up to
            this much beyond it (the sum of score - level over its rows: a CUSUM of the excess), so
            that many rows just over the level weigh what a few far over it do (0: no such rule).
        record: an episode fires only when it scores higher than every row of the `record` rows
            scored before it began (0: no such rule): a pattern no worse than what the feed showed
            lately, and did not alert on, is not news. The rows an alert was on at are left out, so
            an alert never hides the next one.

    How the defaults were chosen: docs/benchmarks.md, "Decisions as live monitoring has them".
    """

    parameter_constraints = {
        "min_gap": Integer(0, message="alert min_gap must be a whole number of rows >= 0, got {value!r}"),
        "min_length": Integer(1, message="alert min_length must be a whole number of rows >= 1, got {value!r}"),
        "hysteresis": Real(0.0, 1.0, message="alert hysteresis must be between 0 (close at a typical normal "
                                             "score) and 1 (close at the threshold), got {value!r}"),
        "fire_level": Real(1.0, message="alert fire_level must be >= 1 (times the threshold, in calibrated "
                                        "units; 1: fire on the min_length-th row above it), got {value!r}"),
        "extreme": Real(1.0, message="alert extreme must be >= 1 (times the threshold, in calibrated "
                                     "units), got {value!r}"),
        "cooldown": Integer(0, message="alert cooldown must be a whole number of rows >= 0, got {value!r}"),
        "settle": Integer(0, message="alert settle must be a whole number of rows >= 0 (0: never), got {value!r}"),
        "burn_in": Integer(0, message="alert burn_in must be a whole number of rows >= 0, got {value!r}"),
        "delay": Integer(0, message="alert delay must be a whole number of rows >= 0, got {value!r}"),
        "memory": Integer(0, message="alert memory must be a whole number of scores >= 0 (0: the reference "
                                     "never moves), got {value!r}"),
        "evidence": Real(0.0, message="alert evidence must be a number >= 0 (calibrated units summed over an "
                                      "episode's rows; 0: none), got {value!r}"),
        "record": Integer(0, message="alert record must be a whole number of rows >= 0 (0: an episode need not beat "
                                     "the rows before it), got {value!r}"),
    }
    PARAMS = tuple(parameter_constraints)
    # rules added since models were first saved, and their value in a model saved without them: a
    # saved model decides as it did when it was fitted
    ABSENT_MEANS = {"evidence": 0.0, "record": 0, "fire_level": 1.0}

    def __init__(self, min_gap: int = 5, min_length: int = 15, fire_level: float = 1.125, hysteresis: float = 0.7,
                 extreme: float = 3.0, cooldown: int = 30, settle: int = 45, burn_in: int = 75, delay: int = 10,
                 memory: int = 2000, evidence: float = 0.0, record: int = 300):
        self.min_gap = min_gap
        self.min_length = min_length
        self.fire_level = fire_level
        self.hysteresis = hysteresis
        self.extreme = extreme
        self.cooldown = cooldown
        self.settle = settle
        self.burn_in = burn_in
        self.delay = delay
        self.memory = memory
        self.evidence = evidence
        self.record = record

    def check_params(self) -> None:
        """Raise a one-line `ConfigError` for the first parameter outside its constraints."""
        check_params(self.get_params(deep=False), self.parameter_constraints)

    def fit(self, calibration_scores, threshold) -> "AlertRules":
        """Calibrate on normal scores the model was not trained on (raw, as the detector scores a feed)
        and the threshold (a number or a fitted `Threshold`): `calibration_` (sorted, at most
        `reference.MAX_CALIBRATION` of them) and `r0_`, the threshold's place among them."""
        self.check_params()
        scores = np.asarray(calibration_scores, dtype=np.float64).reshape(-1)
        if scores.size == 0:
            raise DataError("alert rules need some calibration scores (normal rows held out from training)")
        if not np.all(np.isfinite(scores)):
            raise DataError(f"calibration scores have {int((~np.isfinite(scores)).sum())} non-finite values")
        value = threshold.value_ if isinstance(threshold, Threshold) else threshold
        if not is_real(value):
            raise ConfigError(f"alert rules need a finite threshold value, got {value!r}; fit the threshold first")
        self.calibration_ = sorted_sample(scores)
        self.n_calibration_ = int(scores.size)
        self.r0_ = threshold_place(self.calibration_, float(value))
        return self

    def check_fitted(self) -> None:
        if not hasattr(self, "calibration_"):
            raise NotFittedError("AlertRules are not fitted yet; call fit(calibration_scores, threshold) first")

    def reference(self) -> NormalReference:
        """A fresh normal reference: the calibration scores, nothing joined yet."""
        self.check_fitted()
        return NormalReference(self.calibration_, self.r0_, self.delay, self.memory)

    @property
    def threshold_value(self) -> float:
        """The fitted threshold in raw score units (where a feed's reference starts)."""
        return self.reference().threshold

    def tracker(self, level: float = 1.0):
        """A fresh row-by-row runner of these rules over a feed; `level`: the flag level in calibrated
        units (1.0: the model's threshold)."""
        from seqae.alerts.tracker import AlertTracker

        self.check_fitted()
        return AlertTracker(self, level)

    def apply(self, scores, contributions=None, index=None, level: float = 1.0):
        """The decisions of a whole series fed from its first row (`AlertTracker.run`)."""
        return self.tracker(level).run(scores, contributions, index)

    def with_threshold(self, value: float) -> "AlertRules":
        """A copy with the same calibration and another threshold value (raw units)."""
        self.check_fitted()
        other = AlertRules.from_dict(self.to_dict())
        other.r0_ = threshold_place(other.calibration_, float(value))
        return other

    def fixed(self) -> "AlertRules":
        """A copy whose reference never moves and that judges every row from the first (no burn-in):
        the decisions of the calibration itself, as a threshold fitted on it sees them."""
        return AlertRules.from_dict({**self.to_dict(), "params": {**self.get_params(), "memory": 0, "burn_in": 0}})

    # ---- saving -------------------------------------------------------------------------------------

    def to_dict(self) -> dict:
        """`params` and, once fitted, `fitted` (the calibration and the threshold's place), JSON-able."""
        state = {"kind": "alert_rules", "params": self.get_params()}
        if hasattr(self, "calibration_"):
            state["fitted"] = {"calibration": self.calibration_.tolist(), "n_calibration": self.n_calibration_,
                               "r0": self.r0_}
        return state

    @classmethod
    def from_dict(cls, state: dict) -> "AlertRules":
        """Rules saved with `to_dict`, fitted if they were."""
        params = dict(state.get("params", {}))
        unknown = sorted(set(params) - set(cls.PARAMS))
        if unknown:
            raise ConfigError(f"alert rules take no parameter {unknown[0]!r}; they take {', '.join(cls.PARAMS)}")
        rules = cls(**{**cls.ABSENT_MEANS, **params})
        rules.check_params()
        fitted = state.get("fitted")
        if fitted:
            if "calibration" not in fitted:
                raise DataError("the alert rules were saved by an older seqae, without their calibration scores; "
                                "fit the model again")
            rules.calibration_ = np.asarray(fitted["calibration"], dtype=np.float64)
            rules.n_calibration_ = int(fitted["n_calibration"])
            rules.r0_ = float(fitted["r0"])
        return rules


def threshold_place(calibration: np.ndarray, value: float) -> float:
    """Threshold `value` as a multiple of the sorted `calibration`'s (SPREAD_QUANTILE quantile - median)
    above its median: where the threshold stands among normal scores, whatever their units."""
    median = quantile_of_sorted(calibration, 0.5)
    gap = quantile_of_sorted(calibration, SPREAD_QUANTILE) - median
    floor = 1e-9 * max(1.0, abs(median))
    return (value - median) / max(gap, floor)
