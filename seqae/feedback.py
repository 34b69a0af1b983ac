"""An operator's verdict on an alert, learnt by the model it was raised by.

    alert rows (with window_size - 1 rows before them), less the move of the level their feed
      followed when it raised the alert (`Alert.followed_level`) --verdict "normal"-->
      every nearest-window detector (knn-window, alone or in an ensemble) keeps their windows as
        windows judged normal: a feed asks, where an alert would fire, whether the window ending on
        that row is like one of them (`BaseDetector.verdict_gate`), and such an alert fires hidden:
        not raised, the rules going on as for the alert it would have been (`seqae.alerts.tracker`)
      --the rows not like them scored again--> where they still reach the threshold, the alert
        rules' calibration takes their scores, so the threshold sits above them
    alert rows --verdict "fault"--> a labelled example kept with the model (its times, note, top sensors)

The scores stay the model's: the verdict's windows are kept beside the window memory, not in it. In
it, they would lower the scores of every window near them, the live normal reference would follow
the lower scores down, and other small departures would then reach the threshold (on nab-dev, more
false alerts after a verdict than before; docs/benchmarks.md, "Operator feedback"). A network member
is left as it was fitted. The other decisions stay the model's too: an alert like a verdict is
hidden, not kept from opening. Kept from opening, its rows stayed out of the normal reference that
the alert, settling as a possible new normal, would have lifted, and the next departure of its size
fired (on nab-dev, an operator answering every false alert saw 42 where 34 fire without feedback;
hidden, 34). A verdict may not make a model blind: the threshold rises at most
`extreme` times (the alert rules') unless `force`; beyond that, a model with a window memory keeps
the windows alone (`held_back`), and one without refuses. `BaseDetector.learn_normal` and
`BaseDetector.learn_fault` check their input and call these.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seqae.errors import DataError

FAULTS_KEPT = 100  # labelled faults kept with a model (the oldest leave first)
MARGIN = 1.05  # a verdict's rows end this far under the threshold where the threshold has to move


@dataclass
class NormalVerdict:
    """What a `normal` verdict changed: the verdict rows' calibrated peak before and after, the
    threshold (raw units) before and after, and the windows the memory took."""

    rows: int
    peak_before: float
    peak_after: float
    threshold_before: float
    threshold_after: float
    windows_learnt: int
    calibration_added: int
    forced: bool
    held_back: bool  # still beyond `extreme` after the memory took them: the threshold was left alone

    @property
    def threshold_ratio(self) -> float:
        return self.threshold_after / self.threshold_before if self.threshold_before else float("nan")

    def as_dict(self) -> dict:
        return {"rows": self.rows, "peak_before": self.peak_before, "peak_after": self.peak_after,
                "threshold_before": self.threshold_before, "threshold_after": self.threshold_after,
                "threshold_ratio": self.threshold_ratio, "windows_learnt": self.windows_learnt,
                "calibration_added": self.calibration_added, "forced": self.forced,
                "held_back": self.held_back}


def calibrated_peak(detector, values: np.ndarray, index) -> tuple[float, np.ndarray]:
    """The largest calibrated score (1.0 = the threshold, against the fitted reference) of rows
    `values` scored as a fresh feed, a row like a window judged normal
    (`BaseDetector.like_verdicts`) counting as 0 (it cannot alert), and the raw scores of the rows
    that can (NaN before the first full window and for the rows like a verdict)."""
    raw = detector.detect(values).raw_scores.copy()
    known = detector.like_verdicts(values) & np.isfinite(raw)
    raw[known] = np.nan
    finite = raw[np.isfinite(raw)]
    if finite.size == 0:
        return (0.0 if known.any() else float("nan")), raw
    peak = float(detector.alert_rules_.reference().calibrate(finite).max())
    return (max(peak, 0.0) if known.any() else peak), raw


def learn_normal(detector, values: np.ndarray, index, force: bool = False,
                 where: str = "the verdict rows", followed_level=None) -> NormalVerdict:
    """Teach `detector` (fitted; changed in place) that rows `values` (checked, in its column order,
    at least one window) are normal; see the module docstring. `followed_level`: each sensor's
    followed level when a feed raised them (`Alert.followed_level`); the rows are taken less its
    move from the training rows' level, as that feed scaled them, so a repeat on any later level
    is compared like for like."""
    if followed_level is not None:
        level = np.asarray(followed_level, dtype=np.float64).reshape(-1)
        if level.size != detector.n_features_in_ or not np.isfinite(level).all():
            raise DataError(f"{where}: the followed level must hold one finite reading per sensor "
                            f"({detector.n_features_in_}), got {level.size}; pass that of the feed that raised the "
                            "alert (`Alert.followed_level`)")
        values = values - (level - detector.level_reference_)
    rules = detector.alert_rules_
    peak_before, raw = calibrated_peak(detector, values, index)
    if not np.isfinite(peak_before):
        raise DataError(f"{where}: no row with a full window (window_size={detector.window_size}); "
                        "give the alert's rows with the window_size - 1 rows before them")
    memories = memory_detectors(detector)
    if peak_before > rules.extreme and not memories and not force:
        raise DataError(f"{where}: peak at {peak_before:.3g} times the threshold, beyond the alert rules' extreme "
                        f"({rules.extreme:g}), and a {detector.model_type} model has no window memory to learn "
                        "them alone: the threshold would rise as far and hide anomalies as large; check the "
                        "alert, or pass --force")
    threshold_before = rules.threshold_value
    # The pattern is the verdict rows that reach the flag level (or, where the live reference had
    # moved, the hysteresis share of their peak): the normal rows around it are no part of it, and
    # kept, they would make every near-normal window (an anomaly's first rows) "like" it.
    flagged = np.zeros(len(values), dtype=bool)
    finite = np.isfinite(raw)
    flagged[finite] = rules.reference().calibrate(raw[finite]) >= min(1.0, rules.hysteresis * peak_before)
    windows = sum(member.keep_verdict(values, rows=flagged) for member in memories)
    peak_after, raw = calibrated_peak(detector, values, index)
    added, held_back = 0, False
    if peak_after > 1.0 / MARGIN:
        if peak_after > rules.extreme and not force:
            held_back = True  # the memory took them; the threshold does not rise past `extreme` unasked
        else:
            # The calibration takes the verdict rows' scores, and the threshold moves to sit above them.
            scores = raw[np.isfinite(raw)]
            value = max(threshold_before, float(scores.max()) * MARGIN)
            _refit_rules(detector, np.concatenate([rules.calibration_, scores]), value)
            added = int(scores.size)
            peak_after, _ = calibrated_peak(detector, values, index)
    return NormalVerdict(len(values), peak_before, peak_after, threshold_before, detector.alert_rules_.threshold_value,
                         windows, added, bool(force and peak_before > rules.extreme), held_back)


def _refit_rules(detector, calibration: np.ndarray, value: float) -> None:
    """The alert rules calibrated again on `calibration`, with the threshold at raw `value`."""
    detector.alert_rules_.fit(calibration, value)
    detector.threshold_.value_ = float(value)


def memory_detectors(detector) -> list:
    """The detectors whose model is a memory of normal windows: `detector` itself, or its members."""
    found = [detector] if hasattr(detector, "keep_verdict") else []
    for member in getattr(detector, "members_", []):
        found += memory_detectors(member)
    return found


def fault_record(detector, values: np.ndarray, index, note: str = "") -> dict:
    """A labelled fault: its first and last time, the note, and its top sensors by their share of the
    rows' positive contributions."""
    detection = detector.detect(values)
    contributions = np.nan_to_num(np.asarray(detection.contributions, dtype=np.float64), nan=0.0).clip(min=0)
    shares = contributions.sum(axis=0)
    total = shares.sum()
    order = np.argsort(-shares)[:3]
    top = [[str(detector.feature_names_in_[k]), float(shares[k] / total) if total > 0 else 0.0] for k in order]
    return {"start": str(index[0]), "end": str(index[-1]), "rows": int(len(values)), "note": str(note),
            "top_sensors": top, "peak_score": float(np.nanmax(detection.scores)) if np.isfinite(
                detection.scores).any() else None}


def learn_fault(detector, values: np.ndarray, index, note: str = "") -> dict:
    """Keep rows `values` as a labelled fault of `detector` (`faults_`, the latest `FAULTS_KEPT`)."""
    record = fault_record(detector, values, index, note)
    detector.faults_ = (list(getattr(detector, "faults_", [])) + [record])[-FAULTS_KEPT:]
    return record
