"""What one scoring pass of a detector yields: the model's raw scores, and the decisions made on them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class RawScores:
    """A model's causal raw scores of `n_timepoints` rows: each row's from the rows up to it alone."""

    index: pd.Index
    scores: np.ndarray  # (n_timepoints,) in the model's own units; NaN before the first full window
    contributions: np.ndarray  # (n_timepoints, n_features) each sensor's share; rows sum to scores
    warming_up: np.ndarray  # (n_timepoints,) True for the rows before the first full window


@dataclass
class Detection:
    """The decisions of one scoring pass over `n_timepoints` rows, as live monitoring makes them: each
    row decided from the rows up to it (`seqae.alerts`), the alerts counted where they fired."""

    index: pd.Index  # the frame's index (timestamps or row numbers)
    feature_names: list[str]
    scores: np.ndarray  # (n_timepoints,) calibrated: 0 a typical normal row, 1.0 the threshold; NaN: no score yet
    contributions: np.ndarray  # (n_timepoints, n_features) each sensor's share of the raw score
    threshold: float  # the flag level, in calibrated units (1.0: the model's threshold)
    flags: np.ndarray  # (n_timepoints,) 0/1: an alert is on at the row, from the row it fired (`seqae.alerts`)
    warming_up: np.ndarray | None = None  # True: no decision yet (before the first window, or calibrating)
    raw_scores: np.ndarray | None = None  # (n_timepoints,) the model's causal raw scores
    alert_ids: np.ndarray | None = None  # (n_timepoints,) the row's alert (-1: none)
    alerts: list | None = None  # `seqae.alerts.Alert`s raised over these rows, in row positions
    # retrospective, for ranking (AUC-PR) and plots only: each row from the windows covering it,
    # which reach up to window_size - 1 rows past it; None unless asked for
    ranking_scores: np.ndarray | None = None
    # (n_timepoints,) text: what the state and constant columns did that training never saw
    # (`seqae.data.states`; "" for none); None when the model watches no such column
    state_events: np.ndarray | None = None

    @property
    def above_level(self) -> np.ndarray:
        """0/1 per row: the calibrated score above the flag level, whether an alert was on or not
        (a flag is a decision; this is the evidence the rules weighed)."""
        return (np.nan_to_num(self.scores, nan=-np.inf) > self.threshold).astype(np.int8)

    def sensor_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.contributions, index=self.index, columns=self.feature_names)

    def to_frame(self, alert_ids: np.ndarray | None = None) -> pd.DataFrame:
        """One row per time point: `score`, `raw_score`, `ranking_score` (when computed),
        `is_anomaly`, `alert_id`, `warming_up` (0/1), one contribution column per sensor and, for a
        model with state or constant columns, `state_events`."""
        return pd.DataFrame(self.columns(alert_ids), index=self.index)

    def columns(self, alert_ids: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """The columns of `to_frame`, in its order, as arrays of one value per time point (what a
        caller that needs no frame, like the scoring server's answer, builds its output from);
        `alert_ids` replaces the detection's own (rows settled later, in chunks)."""
        columns = {"score": self.scores}
        if self.raw_scores is not None:
            columns["raw_score"] = self.raw_scores
        if self.ranking_scores is not None:
            columns["ranking_score"] = self.ranking_scores
        columns["is_anomaly"] = self.flags
        ids = self.alert_ids if alert_ids is None else alert_ids
        if ids is not None:
            columns["alert_id"] = np.asarray(ids, dtype=np.int64)
        if self.warming_up is not None:
            columns["warming_up"] = self.warming_up.astype(np.int8)
        for j, name in enumerate(self.feature_names):
            columns[f"contribution_{name}"] = self.contributions[:, j]
        if self.state_events is not None:
            columns["state_events"] = self.state_events
        return columns

    def rows(self, start: int, stop: int) -> "Detection":
        """The detection of rows `start:stop` (its alerts are the whole pass's)."""
        cut = slice(start, stop)
        part = (lambda a: None if a is None else a[cut])
        return Detection(self.index[cut], self.feature_names, self.scores[cut], self.contributions[cut],
                         self.threshold, self.flags[cut], part(self.warming_up), part(self.raw_scores),
                         part(self.alert_ids), self.alerts, part(self.ranking_scores), part(self.state_events))
