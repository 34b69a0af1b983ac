"""Why rows were flagged, where users look: for the largest alerts of a run, a plot of each top
sensor's actual readings against what the model expected (`reconstruct`), the alert shaded; and
the windows of each alert, for the latent-space plot to mark.

The alerts are those of the model's fitted alert rules (`BaseDetector.find_alerts`), the largest
peak scores first, their top sensors the largest shares of their score. Where the rules raise none
(normal training data mostly), the intervals above the flag level (`largest_intervals`) stand in, so a fit run
still shows why its flagged rows were flagged; the plots' titles say which they are.
Neural detectors only: the others have no decoder to say what they expected.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient

from seqae.detectors import BaseDetector, Detection
from seqae.intervals import flags_to_intervals
from seqae.windows import window_starts

N_PLOTTED = 3  # intervals plotted per run, the largest peak scores first
N_SENSORS = 3  # sensors per plot, the largest shares of the interval's score first


@dataclass
class FlaggedInterval:
    first: int  # positions in the detection's rows, inclusive
    last: int
    peak: int
    peak_score: float
    sensors: list[int]  # the top sensors' columns, largest share first
    alert_id: int | None = None  # the alert's id; None for a flagged interval

    def label(self, index: pd.Index) -> str:
        what = "flagged" if self.alert_id is None else f"alert {self.alert_id}:"
        return f"{what} {index[self.first]} .. {index[self.last]}"


def largest_alerts(detection: Detection, alerts, n: int = N_PLOTTED,
                   n_sensors: int = N_SENSORS) -> list[FlaggedInterval]:
    """The `n` alerts of `alerts` (`BaseDetector.find_alerts(detection)`) with the largest peak
    scores, largest first; the largest intervals above the flag level (`largest_intervals`) where they hold none."""
    found = []
    if alerts is not None:
        for alert in alerts.found:
            shares = alert.shares if alert.shares is not None else np.zeros(len(detection.feature_names))
            order = [int(j) for j in np.argsort(-shares, kind="stable")[:n_sensors] if shares[j] > 0]
            found.append(FlaggedInterval(alert.start, alert.end, alert.peak, float(alert.peak_score),
                                         order or [0], alert.alert_id))
    if not found:
        return largest_intervals(detection, n, n_sensors)
    found.sort(key=lambda interval: -interval.peak_score)
    return found[:n]


def largest_intervals(detection: Detection, n: int = N_PLOTTED, n_sensors: int = N_SENSORS) -> list[FlaggedInterval]:
    """The `n` intervals of rows above the flag level with the largest peak scores, largest first,
    with their top sensors (the sensors with the largest positive share of the interval's score)."""
    found = []
    for first, last in flags_to_intervals(detection.above_level):
        span = slice(first, last + 1)
        peak = first + int(np.argmax(detection.scores[span]))
        share = np.clip(detection.contributions[span], 0.0, None).sum(axis=0)
        order = [int(j) for j in np.argsort(-share, kind="stable")[:n_sensors] if share[j] > 0]
        found.append(FlaggedInterval(first, last, peak, float(detection.scores[peak]), order or [0]))
    found.sort(key=lambda interval: -interval.peak_score)
    return found[:n]


def interval_windows(interval: FlaggedInterval, n_timepoints: int, window_size: int, stride: int) -> np.ndarray:
    """0/1 per window of `encode` (windows every `stride` rows) that covers a row of `interval`."""
    starts = window_starts(n_timepoints, window_size, stride)
    return (starts <= interval.last) & (starts + window_size - 1 >= interval.first)


def log_expected_readings(run_id: str, detector: BaseDetector, frame: pd.DataFrame, detection: Detection,
                          intervals: list[FlaggedInterval], folder: str, what: str) -> int:
    """Log `folder/expected_<k>.png` for `intervals` (`largest_alerts`) of `detection` (the rows of
    `frame`); returns how many. `what` names the data in the titles."""
    if not hasattr(detector, "reconstruct"):
        return 0
    if not intervals:
        return 0
    from seqae import plots  # matplotlib loads only where a figure is drawn: not for score or serve
    values, index = detector.check_input(frame)
    expected = detector.reconstruct(frame).to_numpy()
    client = MlflowClient()
    for k, interval in enumerate(intervals, 1):
        margin = max(2 * detector.window_size, interval.last - interval.first + 1)
        shown = slice(max(0, interval.first - margin), min(len(index), interval.last + margin + 1))
        offset = shown.start
        names = [detection.feature_names[j] for j in interval.sensors]
        figure = plots.expected_readings(
            index[shown], values[shown][:, interval.sensors], expected[shown][:, interval.sensors], names,
            (interval.first - offset, interval.last - offset),
            title=f"{what}: {interval.label(index)} (peak score {interval.peak_score:.3g} at "
                  f"{index[interval.peak]}): actual against expected readings of {', '.join(names)}")
        client.log_figure(run_id, figure, f"{folder}/expected_{k}.png")
    return len(intervals)


def latent_marks(detector: BaseDetector, detection: Detection,
                 intervals: list[FlaggedInterval]) -> dict[str, np.ndarray]:
    """For the latent-space plot: each of `intervals` (`largest_alerts`) -> its windows (a 0/1 mask)."""
    return {interval.label(detection.index): interval_windows(interval, len(detection.scores),
                                                              detector.window_size, detector.score_stride)
            for interval in intervals}
