"""Fittable thresholds: objects fitted on scores of normal data that turn scores into flags.

A threshold is not a number hidden inside a model (darts' `QuantileDetector` habit): it is fitted on
the scores of normal data, holds `value_`, can be replaced on a fitted detector, and saves as a
small dict. None of them looks at labels. Each class names its `kind`; `seqae.threshold_registry`
builds thresholds by kind name (for the CLI, pipeline files and saved models), the alert-budget kind
(`seqae.alerts.budget`) among them.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy.stats import genpareto
from sklearn.base import BaseEstimator

from seqae.errors import DataError, NotFittedError
from seqae.params import Real, Satisfies, check_params, collect_constraints, is_real


class Threshold(BaseEstimator):
    """Base class: `fit(normal_scores)` sets `value_`; `flag(scores)` is `scores > value_`."""

    kind = "base"

    def fit(self, scores) -> "Threshold":
        scores = _check_scores(scores)
        self.check_params()
        self.value_ = float(self._fit_value(scores))
        self.n_fit_scores_ = int(len(scores))
        return self

    def flag(self, scores) -> np.ndarray:
        """0/1 flags: 1 where the score is above the fitted value."""
        if not hasattr(self, "value_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted yet; call fit(scores) first")
        return (np.asarray(scores, dtype=np.float64) > self.value_).astype(np.int8)

    def to_dict(self) -> dict:
        """`kind`, `params` and, once fitted, `value` (and `fitted`: what else the fit learned), JSON-able."""
        state = {"kind": self.kind, "params": self.get_params()}
        if hasattr(self, "value_"):
            state["value"] = self.value_
            fitted = self._fitted_state()
            if fitted:
                state["fitted"] = fitted
        return state

    def rule(self) -> str:
        """How the value is chosen from the normal scores, in words (for a run's `threshold_rule`)."""
        return f"{self.kind} {', '.join(f'{k}={v}' for k, v in self.get_params().items())}"

    def _fit_value(self, scores: np.ndarray) -> float:
        """The threshold value from the normal scores; may also set other fitted attributes."""
        raise NotImplementedError

    def check_params(self) -> None:
        """Raise a one-line `ConfigError` for the first parameter outside its constraints."""
        check_params(self.get_params(deep=False), collect_constraints(type(self)))

    def _fitted_state(self) -> dict:
        """Fitted attributes beyond `value_` that `to_dict` saves (JSON-able)."""
        return {}

    def load_fitted_state(self, fitted: dict) -> None:
        """Restore what `_fitted_state` saved."""


class QuantileThreshold(Threshold):
    """The `q` quantile of the normal scores (0.99: about 1 % of normal points flagged)."""

    kind = "quantile"
    parameter_constraints = {
        "q": Real(0.0, 1.0, low_open=True, high_open=True,
                  message="quantile q must be between 0 and 1 (exclusive), got {value}"),
    }

    def __init__(self, q: float = 0.99):
        self.q = q

    def rule(self) -> str:
        return f"quantile {self.q:g}"

    def _fit_value(self, scores: np.ndarray) -> float:
        return np.quantile(scores, self.q)


class UpperControlLimit(Threshold):
    """SKAB's rule: the `q` quantile of the training scores times `factor`.

    SKAB's LSTM-AE notebook uses q=0.99, factor=3/2; its Conv-AE uses factor=4/3.
    """

    kind = "ucl"
    parameter_constraints = {
        "q": Real(0.0, 1.0, low_open=True, high_open=True,
                  message="quantile q must be between 0 and 1 (exclusive), got {value}"),
        "factor": Real(0.0, low_open=True, message="factor must be positive, got {value}"),
    }

    def __init__(self, q: float = 0.99, factor: float = 1.5):
        self.q = q
        self.factor = factor

    def rule(self) -> str:
        return f"{self.factor:g} x quantile {self.q:g} (SKAB's upper control limit)"

    def _fit_value(self, scores: np.ndarray) -> float:
        return np.quantile(scores, self.q) * self.factor


class FixedThreshold(Threshold):
    """A value the user chose; fitting leaves it as it is."""

    kind = "fixed"
    parameter_constraints = {
        "value": Satisfies(lambda v, _: is_real(v), "", message="a fixed threshold needs a finite number, got {value!r}"),
    }

    def __init__(self, value: float = 0.0):
        self.value = value

    def rule(self) -> str:
        return f"fixed at {self.value:g}, whatever the scores"

    def _fit_value(self, scores: np.ndarray) -> float:
        return float(self.value)


class FalseAlarmRateThreshold(Threshold):
    """Flag at most a `target` share of normal points, in expectation (split-conformal).

    Fit it on calibration scores: scores of normal data the model was not trained on (a held-out
    split). With n of them, `value_` is the k-th smallest, k = ceil((n + 1)(1 - target)). If a new
    normal score and the calibration scores are exchangeable (drawn alike, in any order), the chance
    that it lands above the k-th smallest of the n calibration scores is at most 1 - k/(n + 1) <=
    `target` (Vovk et al. 2005; Angelopoulos and Bates, "A gentle introduction to conformal
    prediction", 2021), so the expected flag rate on normal data is at most `target`, whatever the
    score distribution. Scores of the training rows themselves are too low (the model has fitted
    them) and would break the guarantee; seqae's detectors fit their threshold on the held-out
    validation rows by default (`threshold_on="validation"`). Scores of a time series are serially
    correlated, so there the bound holds for the long-run rate of a stationary normal process, not
    draw by draw: check the false-alarm rate on normal data you held back.

    Too few calibration scores: the guarantee needs n >= 1/target - 1 (99 for target 0.01). Below
    that, `value_` is the largest calibration score, which flags about 1/(n + 1) > target of normal
    points, and a warning says so: a threshold that can never fire would hide every anomaly.

    `p_values(scores)` gives the conformal p-value of each score, (1 + #{calibration >= score}) /
    (n + 1); `flag(scores)` is exactly `p_values(scores) <= target` when n is large enough.

    >>> threshold = FalseAlarmRateThreshold(target=0.1).fit(np.arange(1.0, 20.0))  # n = 19, k = 18
    >>> threshold.value_, threshold.flag([17.5, 18.5]).tolist(), threshold.p_values([18.5]).tolist()
    (18.0, [0, 1], [0.1])
    """

    kind = "far"
    parameter_constraints = {
        "target": Real(0.0, 1.0, low_open=True, high_open=True,
                       message="far target must be a false-alarm rate between 0 and 1 (exclusive), got {value}; "
                               "0.01 means 1 % of normal points flagged"),
    }

    def __init__(self, target: float = 0.01):
        self.target = target

    def rule(self) -> str:
        return f"false-alarm rate at most {self.target:g} (split-conformal order statistic)"

    def _fit_value(self, scores: np.ndarray) -> float:
        calibration = np.sort(scores)
        n = calibration.size
        rank = math.ceil((n + 1) * (1 - self.target) - 1e-9)  # 1-based order statistic
        self.calibration_scores_ = calibration
        if rank > n:
            needed = math.ceil(1 / self.target - 1 - 1e-9)
            warnings.warn(
                f"far threshold: {n} calibration scores cannot certify a false-alarm rate of {self.target} "
                f"(that needs at least {needed}); flagging scores above the largest calibration score, "
                f"which flags about 1/{n + 1} = {1 / (n + 1):.3g} of normal points; give it more normal "
                f"scores or raise target", UserWarning, stacklevel=3)
            return calibration[-1]
        return calibration[rank - 1]

    def p_values(self, scores) -> np.ndarray:
        """Conformal p-value of each score: (1 + #{calibration scores >= score}) / (n + 1); NaN stays NaN.

        Small means unusual: under exchangeability P(p <= a) <= a for a normal score.
        """
        if not hasattr(self, "calibration_scores_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted yet; call fit(scores) first")
        scores = np.asarray(scores, dtype=np.float64)
        calibration = self.calibration_scores_
        at_or_above = calibration.size - np.searchsorted(calibration, scores, side="left")
        p_values = (1.0 + at_or_above) / (calibration.size + 1.0)
        return np.where(np.isnan(scores), np.nan, p_values)

    def _fitted_state(self) -> dict:
        return {"calibration_scores": self.calibration_scores_.tolist()}

    def load_fitted_state(self, fitted: dict) -> None:
        if "calibration_scores" in fitted:
            self.calibration_scores_ = np.sort(np.asarray(fitted["calibration_scores"], dtype=np.float64))


class PeaksOverThreshold(Threshold):
    """Extreme-value threshold: the 1 - `risk` quantile of a generalised Pareto tail (SPOT's initial step).

    Siffer et al., "Anomaly detection in streams with extreme value theory", KDD 2017: take t, the
    `initial_quantile` quantile of the normal scores; fit a generalised Pareto distribution (shape
    xi, scale sigma, location 0) to the N_t excesses over t by maximum likelihood
    (`scipy.stats.genpareto.fit(..., floc=0)`); of n scores, the value exceeded with probability
    `risk` = q is

        z = t + (sigma / xi) ((q n / N_t)^(-xi) - 1)      (xi != 0)
        z = t - sigma log(q n / N_t)                      (xi = 0, an exponential tail)

    It reaches beyond the largest normal score when `risk` < 1/n, which a plain quantile cannot.

    Too few peaks (fewer than `min_peaks` excesses, e.g. 400 scores at initial_quantile 0.98 give
    8): a generalised Pareto fit on so few points is unstable, so the tail is taken as exponential
    (xi = 0, sigma = mean excess, its maximum-likelihood fit) and a warning says so. `risk` must be
    below 1 - `initial_quantile`: z is then above t.
    Fitted attributes: `initial_threshold_` (t), `n_peaks_` (N_t), `shape_` (xi), `scale_` (sigma).
    """

    kind = "pot"
    parameter_constraints = {
        "initial_quantile": Real(0.0, 1.0, low_open=True, high_open=True,
                                 message="pot initial_quantile must be between 0 and 1 (exclusive), got {value}"),
        "risk": Satisfies(
            lambda v, p: is_real(v) and 0.0 < v < 1.0 - p["initial_quantile"], "",
            message=lambda name, v, p: (f"pot risk must be above 0 and below 1 - initial_quantile = "
                                        f"{1.0 - p['initial_quantile']:.6g}, got {v}; lower risk or initial_quantile")),
        "min_peaks": Satisfies(lambda v, _: is_real(v) and float(v).is_integer() and v >= 1, "",
                               message="pot min_peaks must be a whole number >= 1, got {value}"),
    }

    def __init__(self, risk: float = 1e-3, initial_quantile: float = 0.98, min_peaks: int = 10):
        self.risk = risk
        self.initial_quantile = initial_quantile
        self.min_peaks = min_peaks

    def rule(self) -> str:
        return (f"peaks over threshold: exceeded with probability {self.risk:g} by a generalised Pareto tail "
                f"above quantile {self.initial_quantile:g}")

    def _fit_value(self, scores: np.ndarray) -> float:
        n = scores.size
        initial = float(np.quantile(scores, self.initial_quantile))
        excesses = scores[scores > initial] - initial
        self.initial_threshold_ = initial
        self.n_peaks_ = int(excesses.size)
        if excesses.size == 0:
            warnings.warn(f"pot threshold: no score above the initial threshold {initial:.6g} (the top "
                          f"{1 - self.initial_quantile:.3g} of the scores are all equal); using it as the "
                          "threshold; give it more varied normal scores", UserWarning, stacklevel=3)
            self.shape_, self.scale_ = 0.0, 0.0
            return initial
        ratio = self.risk * n / excesses.size
        if ratio >= 1.0:
            # ties at t left fewer peaks than 1 - initial_quantile: the wanted quantile is not in the tail
            self.shape_, self.scale_ = None, None
            return float(np.quantile(scores, 1.0 - self.risk))
        if excesses.size < self.min_peaks or np.ptp(excesses) == 0:
            warnings.warn(
                f"pot threshold: only {excesses.size} scores above the initial threshold {initial:.6g} "
                f"(min_peaks={self.min_peaks}); fitted an exponential tail instead of a generalised Pareto; "
                f"give it about {math.ceil(self.min_peaks / (1 - self.initial_quantile))} normal scores "
                "or lower initial_quantile", UserWarning, stacklevel=3)
            shape, scale = 0.0, float(excesses.mean())
        else:
            shape, _, scale = genpareto.fit(excesses, floc=0)
        self.shape_, self.scale_ = float(shape), float(scale)
        if abs(shape) < 1e-8:
            return initial - scale * math.log(ratio)
        return initial + (scale / shape) * (ratio ** (-shape) - 1.0)

    def _fitted_state(self) -> dict:
        return {"initial_threshold": self.initial_threshold_, "n_peaks": self.n_peaks_,
                "shape": self.shape_, "scale": self.scale_}

    def load_fitted_state(self, fitted: dict) -> None:
        for key in ("initial_threshold", "n_peaks", "shape", "scale"):
            if key in fitted:
                setattr(self, f"{key}_", fitted[key])


def _check_scores(scores) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if scores.size == 0:
        raise DataError("cannot fit a threshold on no scores; give it the scores of some normal data")
    if not np.all(np.isfinite(scores)):
        raise DataError(f"cannot fit a threshold on scores with {int((~np.isfinite(scores)).sum())} non-finite values")
    return scores

