"""The parameters every detector shares, declared once: their defaults, constraints and meanings.

`BaseDetector.parameters` is this table; a family adds its own (`parameters`) and states the
defaults it changes (`defaults`), and `seqae.params.keyword_init` generates each class's `__init__`.
"""

from __future__ import annotations

from seqae.alerts import AlertRules
from seqae.data import Scaler
from seqae.data.roles import ROLES
from seqae.params import Integer, NoneOr, OneOf, Param, Real, Satisfies
from seqae.thresholds import Threshold

NORMALIZATIONS = ("zscore", "robust", "none")
SCORE_REDUCTIONS = ("mean", "last", "window")
SCORE_PRECISIONS = ("float32", "bfloat16")
THRESHOLD_SOURCES = ("validation", "all")
NORMALIZE_SOURCES = ("train", "validation")
MAX_SEED = 2**32 - 2  # random_state + 1 seeds the VAE's training draws; scikit-learn takes < 2**32


SHARED_PARAMETERS = {
    "window_size": Param(32, Integer(1), "rows per window."),
    "validation_fraction": Param(
        0.2, Real(0.0, 1.0, high_open=True),
        "the last part of the training rows held out, in time order: it decides early stopping and, by "
        "default, the threshold."),
    "normalization": Param(
        "robust", OneOf(NORMALIZATIONS),
        "per-sensor normalisation of the element scores before summing: `robust` (by their median and MAD "
        "on the rows `normalize_on` names: a few anomalous rows there do not mute a sensor), `zscore` "
        "(mean and standard deviation) or `none`."),
    "normalize_on": Param(
        "validation", OneOf(NORMALIZE_SOURCES),
        "the rows whose element scores the normalisation is fitted on: `validation` (the held-out rows: "
        "out-of-sample scores, the size new normal data gives, where a model's errors on the rows it was "
        "trained on are smaller; `train` when nothing is held out) or `train` (the rows the model was "
        "fitted on)."),
    "scaling": Param(
        "standard", OneOf(Scaler.METHODS),
        "the input scaler fitted on the training rows: `standard` (mean, standard deviation) or `robust` "
        "(median, IQR / 1.349; an IQR of 0 falls back to the deviation)."),
    "score_reduction": Param(
        "mean", OneOf(SCORE_REDUCTIONS),
        "`mean` of all windows covering a row, the `last` (the one ending there), or `window`: each "
        "window's mean score over its steps, given to each of its rows, then the mean of the windows "
        "covering a row (`window_scores`)."),
    "smoothing": Param(
        1, Integer(1, message="smoothing must be a whole number of rows >= 1 (1 = no smoothing), got {value!r}"),
        "rows of the causal rolling mean applied to the score (and to each sensor's share of it); 1 = none. "
        "It adds no look-ahead, but with `score_reduction=\"mean\"` a row's score already uses the rows up "
        "to `window_size - 1` after it for ranking (`anomaly_score`); the decisions (`detect`) score each "
        "row from the rows up to it alone. A one-row spike is diluted by it."),
    "threshold_on": Param(
        "validation", OneOf(THRESHOLD_SOURCES),
        "fit the threshold on the held-out `validation` rows or `all` training rows (either way sliced "
        "from the scores of all the training rows scored as one series; `knn-window` scores each training "
        "row against the windows that share no row with it, so that every row's score is out of sample)."),
    "score_stride": Param(1, Integer(1, "window_size"),
                          "rows between scored windows (1 = every window; larger is faster)."),
    "threshold": Param(
        None, NoneOr(Satisfies(lambda t, _: isinstance(t, Threshold), ""),
                     message="threshold must be a seqae Threshold (e.g. QuantileThreshold(0.99)), got {value!r}"),
        "a `Threshold` fitted on the scores of normal data (None: the 99th percentile)."),
    "roles": Param(
        None, NoneOr(Satisfies(lambda v, _: isinstance(v, dict) and all(r in ROLES for r in v.values()), ""),
                     message="roles must be a dict of column -> role (" + ", ".join(ROLES) + "), e.g. "
                             "{{'valve_cmd': 'continuous'}}, got {value!r}"),
        "each column's role where the one found in the training rows is not wanted (`seqae.data.roles`: "
        "`continuous` columns are modelled, `state` and `constant` ones listed and left out), e.g. "
        "`{\"gear\": \"continuous\"}`."),
    "alert_rules": Param(
        None, NoneOr(Satisfies(lambda v, _: isinstance(v, dict) and set(v) <= set(AlertRules.PARAMS), ""),
                     message="alert_rules must be a dict of alert rule parameters (" + ", ".join(AlertRules.PARAMS)
                             + "), e.g. {{'settle': 200}}, got {value!r}"),
        "parameters of the alert rules (`seqae.alerts.AlertRules`) that differ from their defaults, e.g. "
        "`{\"settle\": 200, \"burn_in\": 100}`."),
    "random_state": Param(
        None, NoneOr(Integer(0, MAX_SEED), f"None or a whole number from 0 to {MAX_SEED}"),
        "seed of every random draw (weights, shuffling, noise, samples): same seed, same model; "
        "accepted and unused where nothing is random."),
}
