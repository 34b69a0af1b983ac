"""A watch as an MLflow run: what a live feed's scores look like, next to what the model expects.

Each `seqae watch` is a run in the experiment of the model's run (tag `seqae.model_run_id` links
them; a model without a run logs to `--experiment`). Every `report_every` rows it logs, in one batch
(step: the rows seen; names from `metric_names.watch_name`, `Live/...` first on the run page): the
rows seen, alerts opened and closed so far, the score quantiles (p50, p90, p99, max) and the
share of those rows above the threshold, beside the share the calibration predicts (the share of
held-out normal scores above it, `expected_share`). The alert table is an artifact,
`monitoring/alerts.csv`, rewritten whenever an alert opens or closes: the alerts the live scorer
keeps (its last `LiveScorer.alerts_kept`, 1,000), so a report costs the same after months. With
it, for `seqae feedback MODEL --alert ID` (`seqae.tracking.kept_alerts`, the layout of a scoring
run's alerts): each alert's rows as the watch read them, with the `window_size - 1` rows before it
(`monitoring/rows/<alert_id>.csv`, its first 5,000 rows at most; `seqae.streaming.alert_rows`),
logged again while they grow and once more when its close is final, and each sensor's followed
level when it fired (`monitoring/followed_levels.json`).

The feed adapts to normal behaviour as it drifts (`seqae.detectors.feed`): each report also logs
how far it has moved from what the model was fitted on (`threshold_ratio`: the threshold now over
the fitted one; `level_shift`: the largest move of a sensor's level, in its spreads). A stale model:
when for `stale_after` reports in a row the share above the threshold stays far from the expected
share (more than 3 times it or under a third of it, and more than 4 binomial standard errors away),
or the threshold has moved 3 times (or a third) from the fitted one, or a level by 3 spreads, the
watch warns once ("the model looks stale: refit on recent normal data") and tags the run
`seqae.stale=true`. An anomaly raises the share too; `stale_after` reports (5,000 rows by default)
is longer than the alerts the rules were tuned for.

A watch that follows a model alias names the version answering (tag `seqae.model_version`, updated
at each switch) and records each switch as a tag `seqae.switch.<k>`: "version A -> B at row R".
Every watch names the runs of the models it has answered with (tag `seqae.model_run_ids`: their run
ids, comma-separated, the first the run's `seqae.model_run_id`; one more at each switch), and each
alert of its table the model that raised it (`seqae.tracking.kept_alerts.RAISED_BY`: `model_uri`,
`models:/NAME/VERSION` for a followed alias, and `model_run_id`), so that
`seqae feedback models:/NAME/2 --alert ID` finds the alerts version 2 raised after a switch, and
only those.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from seqae.detectors import BaseDetector, Detection
from seqae.tracking.kept_alerts import FOLDERS, FOLLOWED_TAG, RAISED_BY, write_alerts
from seqae.tracking.metric_names import watch_name
from seqae.tracking.models import LoadedModel, alias_of
from seqae.errors import hide_credentials
from seqae.tracking.store import (DEFAULT_EXPERIMENT, experiment_id, mlflow_warnings_off, now_ms, process_tags,
                                  reach_store)

STALE_RATIO = 3.0  # the share above the threshold this many times the expected one (or under 1/this)
STALE_Z = 4.0  # and this many binomial standard errors away
STALE_LEVEL = 3.0  # or a sensor's level moved this many spreads from the training rows' (the threshold: STALE_RATIO)
STALE_MESSAGE = "the model looks stale: refit on recent normal data"
FOLDER = FOLDERS["monitoring"]  # the artifacts' folder: monitoring/
ALERTS_ARTIFACT = f"{FOLDER}/alerts.csv"
FOLLOWED_CHARS = 5000  # at most this long a tag of the models' runs answered with (MLflow keeps 5,000 or more)


def expected_share(detector: BaseDetector) -> float:
    """The share of normal rows the calibration puts above the threshold (of the held-out scores the
    alert rules were fitted on, an exponential tail beyond the largest of them)."""
    rules = detector.alert_rules_
    return float(10.0 ** -rules.reference().severity(rules.threshold_value))


class MonitoringRun:
    """Called with each block of scored rows (`seqae.streaming.feed.watch`'s `report`); `close()` at the end.

    `alert_table`: the scorer's alert table, logged when an alert opened or closed since the last
    report; `alert_rows` (`seqae.streaming.alert_rows.AlertRows`: `changed()`, `followed_levels()`):
    the alerts' rows and followed levels, logged with it."""

    def __init__(self, loaded: LoadedModel, *, source: str, experiment: str = DEFAULT_EXPERIMENT,
                 report_every: int = 1000, stale_after: int = 5, warn: Callable[[str], None] = print,
                 alert_table: Callable | None = None, drift: Callable[[], dict] | None = None,
                 version: str | None = None, alert_rows=None):
        reach_store()
        self.client = MlflowClient()
        detector = loaded.detector
        exp_id = None
        if loaded.run_id:
            try:
                exp_id = self.client.get_run(loaded.run_id).info.experiment_id
            except Exception:  # the model's run lives in another store: log beside --experiment
                exp_id = None
        if exp_id is None:
            exp_id = experiment_id(experiment)
        tags = {"seqae.kind": "monitoring", "seqae.model_uri": hide_credentials(loaded.uri), "seqae.source": source,
                **process_tags()}
        if loaded.run_id:
            tags["seqae.model_run_id"] = tags[FOLLOWED_TAG] = loaded.run_id
        if version is not None:
            tags["seqae.model_version"] = str(version)
        with mlflow_warnings_off():
            run = self.client.create_run(exp_id, run_name=f"watch {source}", tags=tags)
        self.run_id, self.experiment_id = run.info.run_id, exp_id
        self.threshold = float(detector.threshold_.value_)
        self.expected = expected_share(detector)
        self.report_every, self.stale_after, self.warn = int(report_every), int(stale_after), warn
        self.alert_table, self.alert_rows = alert_table, alert_rows
        self.client.log_batch(self.run_id, params=[
            Param("model_uri", hide_credentials(loaded.uri)), Param("model_type", detector.model_type),
            Param("threshold", f"{self.threshold:.6g}"), Param("expected_share", f"{self.expected:.6g}"),
            Param("report_every", str(self.report_every)), Param("source", source)])
        self.rows_seen = 0
        self.opened = self.closed = 0
        self.scores: list[np.ndarray] = []  # the scores since the last report (warming-up rows left out)
        self.pending = 0  # rows since the last report
        self.alerts_changed = False
        self.drift = drift
        self.strikes = 0  # reports in a row with the share far from the expected one, or the feed far off
        self.stale = False
        self.switches = 0
        self.model_run_ids = [loaded.run_id] if loaded.run_id else []  # the models' runs answered with, in order
        self.name = (alias_of(loaded.uri) or (None, None))[0]  # the registered model of a followed alias
        self._answering(hide_credentials(loaded.uri), version, loaded.run_id)

    def _answering(self, uri: str, version: str | None, run_id: str | None) -> None:
        """Mark the alerts raised from now on with the model answering (version `version` of a followed alias)."""
        if self.alert_rows is not None:
            named = f"models:/{self.name}/{version}" if version is not None and self.name else uri
            self.alert_rows.answering({"model_uri": named, "model_run_id": run_id or ""})

    def __call__(self, detection: Detection, events) -> None:
        """Count a block of scored rows (and the alert events on them); report every `report_every` rows,
        however the rows came in blocks."""
        n_rows = len(detection.scores)
        scored = np.ones(n_rows, dtype=bool) if detection.warming_up is None else ~detection.warming_up
        first = 0
        while first < n_rows:
            stop = min(n_rows, first + self.report_every - self.pending)
            self.scores.append(detection.scores[first:stop][scored[first:stop]])
            for event in events:
                if first <= event.position < stop:
                    self.opened += event.event == "open"
                    self.closed += event.event == "close"
                    self.alerts_changed = True
            self.pending += stop - first
            self.rows_seen += stop - first
            first = stop
            if self.pending >= self.report_every:
                self.report()

    def report(self) -> None:
        """Log the rows since the last report as one batch of metrics (step: rows seen)."""
        scores = np.concatenate(self.scores) if self.scores else np.empty(0)
        step, stamp = self.rows_seen, now_ms()
        values = {"rows_seen": self.rows_seen, "alerts_opened": self.opened, "alerts_closed": self.closed,
                  "expected_share": self.expected}
        if scores.size:
            share = float(np.mean(scores > 1.0))  # calibrated scores: 1.0 is the threshold
            values.update({"score_p50": float(np.quantile(scores, 0.5)), "score_p90": float(np.quantile(scores, 0.9)),
                           "score_p99": float(np.quantile(scores, 0.99)), "score_max": float(scores.max()),
                           "share_above_threshold": share})
            moved = self.drift() if self.drift is not None else {}
            values.update(moved)
            self._check_stale(share, scores.size, moved)
        self.client.log_batch(self.run_id, metrics=[Metric(watch_name(k), float(v), stamp, step)
                                                    for k, v in values.items()])
        rows_moved = self.alert_rows is not None and self.alert_rows.moved  # an open alert's rows grew,
        if (self.alerts_changed or rows_moved) and self.alert_table is not None:  # or a restart took alerts over
            self._log_alerts()
            self.alerts_changed = False
        self.scores, self.pending = [], 0

    def _log_alerts(self) -> None:
        """The alert table, the rows of the alerts that moved since the last time and the followed
        levels, in one batch of artifacts (rows logged before stay in the run)."""
        rows, levels = ({}, None) if self.alert_rows is None else \
            (self.alert_rows.changed(), self.alert_rows.followed_levels())
        with tempfile.TemporaryDirectory(prefix="seqae-watch-") as tmp:
            root = Path(tmp) / FOLDER
            write_alerts(root, self._raised_by(self.alert_table()), rows, levels)
            self.client.log_artifacts(self.run_id, str(root), FOLDER)

    def _raised_by(self, table):
        """The alert table, with the model that raised each alert (`RAISED_BY`; "" where not known)."""
        if table is None or self.alert_rows is None:
            return table
        raised = self.alert_rows.raised_by
        return table.assign(**{column: [raised.get(int(alert_id), {}).get(column, "") for alert_id in table["alert_id"]]
                               for column in RAISED_BY})

    def _check_stale(self, share: float, n: int, moved: dict) -> None:
        p = self.expected
        spread = math.sqrt(max(p * (1 - p), 1e-12) / n)
        far = (share > STALE_RATIO * p or share < p / STALE_RATIO) and abs(share - p) > STALE_Z * spread
        ratio, level = moved.get("threshold_ratio", 1.0), moved.get("level_shift", 0.0)
        adapted = (not STALE_RATIO ** -1 <= ratio <= STALE_RATIO) or level > STALE_LEVEL
        self.strikes = self.strikes + 1 if far or adapted else 0
        if self.strikes >= self.stale_after and not self.stale:
            self.stale = True
            why = (f"the threshold is {ratio:.3g} times the fitted one, a sensor's level moved {level:.3g} spreads"
                   if adapted else f"{100 * share:.2f} % of the last {n} rows above the threshold; the calibration "
                   f"expects {100 * p:.2f} %")
            self.warn(f"Warning: {STALE_MESSAGE} ({why}, {self.stale_after} reports in a row)")
            self.client.set_tag(self.run_id, "seqae.stale", "true")
            self.client.set_tag(self.run_id, "seqae.stale_at_row", str(self.rows_seen))

    def switched(self, previous: str, version: str, row: int, detector: BaseDetector, *,
                 alert_table: Callable | None = None, drift: Callable[[], dict] | None = None,
                 run_id: str | None = None) -> None:
        """Version `version` (its model's run: `run_id`) answers from row `row` on (1 the feed's first):
        one batch of tags, the alerts raised from now on marked with it, and the new model's expected
        share, alert table and drift for the reports after it."""
        self.switches += 1
        tags = [RunTag(f"seqae.switch.{self.switches}", f"version {previous} -> {version} at row {row}"),
                RunTag("seqae.model_version", str(version))]
        if run_id and run_id not in self.model_run_ids:
            self.model_run_ids.append(run_id)
            followed = self.model_run_ids
            while len(",".join(followed)) > FOLLOWED_CHARS:  # the newest that fit (the first is seqae.model_run_id)
                followed = followed[1:]
            tags.append(RunTag(FOLLOWED_TAG, ",".join(followed)))
        self.client.log_batch(self.run_id, tags=tags)
        self._answering(f"models:/{self.name}/{version}", version, run_id)
        self.threshold, self.expected = float(detector.threshold_.value_), expected_share(detector)
        self.alert_table, self.drift = alert_table or self.alert_table, drift or self.drift

    def close(self, status: str = "FINISHED") -> None:
        """Report the rows left, the final alert table, and end the run."""
        if self.pending or self.alerts_changed or (self.alert_rows is not None and self.alert_rows.moved):
            self.alerts_changed = self.alerts_changed or self.opened > 0
            self.report()
        self.client.set_terminated(self.run_id, status=status)


__all__ = ["ALERTS_ARTIFACT", "MonitoringRun", "STALE_MESSAGE", "expected_share"]
