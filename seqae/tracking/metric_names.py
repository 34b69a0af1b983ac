"""The names of the metrics seqae logs to MLflow: `<section>/<key>`, so that the run page reads in
the order a reviewer asks its questions.

MLflow's run page ("Model metrics") draws one collapsible section per metric-name prefix (the text
before the first "/"), the sections sorted as text, case-sensitively (upper case before lower
case), and last a section of every metric without a prefix. So the sections read first have
capitalised names: `Evaluation` (the key figures on labelled rows: AUC-PR, VUS-PR, anomaly recall,
alert precision, false alerts per 1,000 normal rows, ...) and `Loss` (`Loss/train` and
`Loss/validation`, step = epoch); the other groups follow in lower case, and every metric has a
prefix. A fit run and the `seqae evaluate` of its model on the same run show:

    Evaluation, Loss, alerts, evaluation details, scores, training

Runs of other kinds follow the same rule: an auto candidate leads with `Validation` (its AP on the
injected anomalies), a watch with `Live`, a feedback run with `Feedback`; a pipeline's parent run
adds a section per seed (`seed 0`, ...) and `seed std`.

A name with a "/" or a space is quoted with backticks in a search:
``mlflow.search_runs(filter_string="metrics.`Evaluation/auc_pr` > 0.5")``. `seqae runs` also reads
a metric's flat name (`eval_auc_pr`, `threshold`), which the runs of older stores carry (`flat_name`).
"""

from __future__ import annotations

import re

from seqae.metrics import ALERT_METRIC_KEYS, MEAN_KEYS, METRIC_KEYS

EVALUATION = "Evaluation"  # the key figures on labelled rows
LOSS = "Loss"  # the loss per epoch
VALIDATION = "Validation"  # an auto candidate's AP on the injected anomalies
LIVE = "Live"  # a watch: rows seen, alerts, the share of rows above the threshold against the expected share
FEEDBACK = "Feedback"  # a verdict's effect: the alert's peak before and after, the threshold's move
ALERTS = "alerts"
BASELINE = "baseline"  # the demo's no-network baseline, on the same evaluation rows
DRIFT = "drift"
EVALUATION_DETAILS = "evaluation details"
FEEDBACK_DETAILS = "feedback details"
SCORES = "scores"
SEED = "seed"  # a pipeline's figure for one seed: `seed 0`, `seed 1`, ...
SEED_STD = f"{SEED} std"  # a pipeline's standard deviation over its seeds
TRAINING = "training"

LOSS_TRAIN = f"{LOSS}/train"
LOSS_VALIDATION = f"{LOSS}/validation"

KEY_EVALUATION = (  # `seqae.metrics.evaluate_decisions`' keys in the `Evaluation` section; the rest are details
    "auc_pr", "vus_pr", "live_auc_pr", "anomaly_recall", "alert_precision", "false_alerts_per_1000_rows",
    "normal_rows_in_alerts", "normal_rows_flagged", "nab_score",
)

_FIT = {  # a fit's summary key -> its name (fit runs, a fleet's runs, auto's candidates, a pipeline's runs)
    "threshold": f"{SCORES}/threshold",
    "train_flagged_fraction": f"{SCORES}/train_flagged_fraction",
    "fit_seconds": f"{TRAINING}/seconds",
    "n_train_rows": f"{TRAINING}/rows",
    "epochs_run": f"{TRAINING}/epochs_run",
    "best_epoch": f"{TRAINING}/best_epoch",
    "best_validation_loss": f"{TRAINING}/best_validation_loss",
    "final_train_loss": f"{TRAINING}/final_train_loss",
    "n_assets": f"{TRAINING}/assets",
    "asset_fit_seconds_total": f"{TRAINING}/asset_seconds_total",
    "n_train_labelled_anomalous": f"{TRAINING}/labelled_anomalous",
    "validation_ap": f"{VALIDATION}/ap",
    "n_test_rows": f"{EVALUATION_DETAILS}/rows",
    "n_test_labelled_anomalous": f"{EVALUATION_DETAILS}/labelled_anomalous",
    "n_time_gaps": f"{EVALUATION_DETAILS}/time_gaps",
    "score_seconds": f"{EVALUATION_DETAILS}/score_seconds",
    "auc_pr_pooled": f"{EVALUATION_DETAILS}/auc_pr_pooled",
}

_FIT_PATTERNS = (  # (flat key, its name) for the keys made per part, quantile, alert count or injection kind
    (r"(train|validation)_score_(p\d+|max)", SCORES + "/{0}_{1}", r"(train|validation)_(p\d+|max)", "{0}_score_{1}"),
    (r"(train_n_alerts|train_n_alert_rows)", ALERTS + "/{0}", r"(train_n_alerts|train_n_alert_rows)", "{0}"),
    (r"(ap_\w+)", VALIDATION + "/{0}", r"(ap_\w+)", "{0}"),
)

_WATCH = {
    "rows_seen": f"{LIVE}/rows_seen", "alerts_opened": f"{LIVE}/alerts_opened",
    "alerts_closed": f"{LIVE}/alerts_closed", "share_above_threshold": f"{LIVE}/share_above_threshold",
    "expected_share": f"{LIVE}/expected_share",
    "score_p50": f"{SCORES}/p50", "score_p90": f"{SCORES}/p90", "score_p99": f"{SCORES}/p99",
    "score_max": f"{SCORES}/max",
    "threshold_ratio": f"{DRIFT}/threshold_ratio", "level_shift": f"{DRIFT}/level_shift",
}

_FEEDBACK = {
    "peak_before": f"{FEEDBACK}/peak_before", "peak_after": f"{FEEDBACK}/peak_after",
    "threshold_ratio": f"{FEEDBACK}/threshold_ratio",
    "threshold_before": f"{FEEDBACK_DETAILS}/threshold_before",
    "threshold_after": f"{FEEDBACK_DETAILS}/threshold_after",
    "windows_learnt": f"{FEEDBACK_DETAILS}/windows_learnt",
}

_EVALUATION_SECTIONS = (EVALUATION, EVALUATION_DETAILS)

FLAT_EVALUATION_PREFIX = "eval_"  # the flat name of an evaluation figure: eval_<key>


def evaluation_name(key: str) -> str:
    """`Evaluation/<key>` for a key figure (`KEY_EVALUATION`), `evaluation details/<key>` for the
    other keys of `seqae.metrics.evaluate_decisions` (and `pooled_decisions`)."""
    return f"{EVALUATION if key in KEY_EVALUATION else EVALUATION_DETAILS}/{key}"


def baseline_name(key: str) -> str:
    """`baseline/<key>`: an evaluation figure of the demo's no-network baseline."""
    return f"{BASELINE}/{key}"


def metric_name(key: str) -> str:
    """The name of a fit's or a labelled evaluation's figure (the keys of `FitResult.metrics`, of a
    fleet's and a pipeline's results, of auto's candidates, of `seqae.metrics.evaluate_decisions`).
    A key with no name here is a `ValueError`: every metric seqae logs belongs to a section."""
    if key in _FIT:
        return _FIT[key]
    for pattern, name, _, _ in _FIT_PATTERNS:
        found = re.fullmatch(pattern, key)
        if found:
            return name.format(*found.groups())
    if key in _EVALUATION_KEYS:
        return evaluation_name(key)
    raise ValueError(f"metric {key!r} has no section; name it in seqae/tracking/metric_names.py")


def watch_name(key: str) -> str:
    """The name of a figure `seqae watch` reports (`seqae.tracking.monitor.MonitoringRun.report`)."""
    return _named(_WATCH, key, "a watch")


def feedback_name(key: str) -> str:
    """The name of a verdict's figure in a feedback run (`seqae.feedback` effect keys)."""
    return _named(_FEEDBACK, key, "a feedback run")


def named(values: dict, name=metric_name) -> dict:
    """`values` keyed by `name(key)` (`metric_name` unless given)."""
    return {name(key): value for key, value in values.items()}


def seed_name(seed, key: str) -> str:
    """`seed <seed>/<key>`: a pipeline's figure for one seed (its parent run)."""
    return f"{SEED} {seed}/{key}"


def seed_std_name(key: str) -> str:
    """`seed std/<key>`: a pipeline's standard deviation of a figure over its seeds (its parent run)."""
    return f"{SEED_STD}/{key}"


def flat_name(name: str) -> str | None:
    """The flat name that the metric `name` (a `metric_name`) has in the runs of older stores
    (`eval_auc_pr` for `Evaluation/auc_pr`, `threshold` for `scores/threshold`), or None if it had
    none; `seqae runs` reads it where a run has no `name`."""
    if name in _FLAT:
        return _FLAT[name]
    section, _, key = name.partition("/")
    for _, named_as, pattern, flat in _FIT_PATTERNS:
        found = re.fullmatch(pattern, key)
        if found and named_as.startswith(section + "/"):
            return flat.format(*found.groups())
    return FLAT_EVALUATION_PREFIX + key if section in _EVALUATION_SECTIONS and key in _EVALUATION_KEYS else None


def _named(table: dict, key: str, what: str) -> str:
    if key not in table:
        raise ValueError(f"{what}'s metric {key!r} has no section; name it in seqae/tracking/metric_names.py")
    return table[key]


_EVALUATION_KEYS = frozenset((*METRIC_KEYS, *MEAN_KEYS, *ALERT_METRIC_KEYS))  # `evaluate_decisions`' keys

_FLAT = {**{name: key for key, name in _FIT.items()}, LOSS_TRAIN: "train_loss", LOSS_VALIDATION: "validation_loss"}
