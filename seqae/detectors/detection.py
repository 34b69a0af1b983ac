"""What one scoring pass of a detector yields: scores, each sensor's share of them, and flags."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class Detection:
    """Everything one scoring pass yields, for `n_timepoints` rows. The alert rules of the
    detector that scored them turn the flags into alerts (`BaseDetector.find_alerts`)."""

    index: pd.Index  # the frame's index (timestamps or row numbers)
    feature_names: list[str]
    scores: np.ndarray  # (n_timepoints,) higher = more anomalous
    contributions: np.ndarray  # (n_timepoints, n_features) each sensor's share; rows sum to scores
    threshold: float
    flags: np.ndarray  # (n_timepoints,) 0/1
    # causal scores only: (n_timepoints,) bool, True for the rows before the first full window,
    # which have no score yet (NaN score and contributions, flag 0); None for the default scores
    warming_up: np.ndarray | None = None

    def sensor_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.contributions, index=self.index, columns=self.feature_names)

    def to_frame(self, alert_ids: np.ndarray | None = None) -> pd.DataFrame:
        """One row per time point: score, is_anomaly, with `alert_ids` the row's alert (-1: none),
        for causal scores `warming_up` (0/1), and one contribution column per sensor."""
        return pd.DataFrame(self.columns(alert_ids), index=self.index)

    def columns(self, alert_ids: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """The columns of `to_frame`, in its order, as arrays of one value per time point (what a
        caller that needs no frame, like the scoring server's answer, builds its output from)."""
        columns = {"score": self.scores, "is_anomaly": self.flags}
        if alert_ids is not None:
            columns["alert_id"] = np.asarray(alert_ids, dtype=np.int64)
        if self.warming_up is not None:
            columns["warming_up"] = self.warming_up.astype(np.int8)
        for j, name in enumerate(self.feature_names):
            columns[f"contribution_{name}"] = self.contributions[:, j]
        return columns
