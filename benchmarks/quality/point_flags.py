"""How many normal test rows the default detector flags: point flags and alerts on SKAB and nab-dev.

    python -m benchmarks.quality point-flags
    python -m benchmarks.quality point-flags --sets skab --limit 3

Each file is fitted on its training rows (protocol.py) with the detector `seqae fit` keeps (for
several sensors `knn-window` with the level baseline, for one `knn-window`) and, for comparison,
with `knn-window` at auto's window (the default before); the test rows are scored on their own, as `seqae score` scores a file. For
each threshold, fitted on the detector's held-out validation scores (never on labels), it measures
the share of normal test rows flagged, the share of anomalous test rows flagged, the share of
normal test rows above the highest held-out score (no threshold fitted on those rows can leave them
unflagged), and the alerts
with the default rules (`seqae.alerts`, counted as the alerts study counts them). The
scores do not depend on the threshold, so no threshold changes the average precision.
Writes benchmarks/results/point_flags.csv and point_flags.md.
"""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pandas as pd

from benchmarks.quality import common, protocol

THRESHOLDS = ("default", "quantile:q=0.999", "far:target=0.001", "pot", "ucl")


def fitted(set_name: str, limit: int | None = None):
    """Per file: the detector auto keeps (its incumbent, `default_candidates(...)[0]`, depends on
    the sensor count alone; fitting it directly skips the other candidates) and `knn-window`."""
    from seqae.autoconfig import choose_window, default_candidates, find_period
    from seqae.detectors import make_detector

    for file in protocol.load(set_name, limit):
        values = file.train.to_numpy(dtype=np.float64)
        window = choose_window(len(values), find_period(values))
        kept = default_candidates(window, values.shape[1], networks=False)[0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            knn = make_detector("knn-window", window_size=window).fit(file.train)
            auto = make_detector(kept.model_type, **kept.params).fit(file.train)
        yield file, {"knn-window (before)": knn, "seqae fit (now)": auto}


def measure(set_name: str, limit: int | None = None) -> list[dict]:
    from seqae import metrics
    from seqae.alerts import AlertRules, find_alerts
    from seqae.threshold_registry import parse_threshold

    rows = []
    for file, detectors in fitted(set_name, limit):
        normal = file.labels == 0
        timed = isinstance(file.test.index, pd.DatetimeIndex)
        for name, detector in detectors.items():
            detection = detector.detect(file.test)
            calibration = detector.validation_scores_
            for spec in THRESHOLDS:
                if spec == "default":
                    value, rules = detection.threshold, detector.alert_rules_
                else:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        value = parse_threshold(spec).fit(calibration).value_
                    rules = AlertRules().fit(calibration, value)
                flags = detection.scores > value
                alerts = find_alerts(detection.index, detection.scores, detection.contributions, value,
                                     calibration, detection.feature_names, rules=rules)
                counts = metrics.alert_counts(file.labels, alerts.spans(), fired_at=alerts.fired_rows(),
                                              index=file.test.index if timed else None)
                rows.append({"set": set_name, "file": file.name, "detector": name, "threshold": spec,
                             "normal_flagged": float(flags[normal].mean()) if normal.any() else np.nan,
                             "anomalous_flagged": float(flags[~normal].mean()) if (~normal).any() else np.nan,
                             # above every held-out row the threshold was fitted on: no threshold
                             # fitted on those rows could leave these unflagged
                             "normal_above_calibration_max": float((detection.scores[normal] > calibration.max()).mean())
                             if normal.any() else np.nan,
                             "n_test_rows": len(flags), **counts.to_dict()})
        print(f"{set_name} {file.name}", file=sys.stderr, flush=True)
    return rows


def summary(per_file: pd.DataFrame) -> pd.DataFrame:
    grouped = per_file.groupby(["set", "detector", "threshold"], sort=False)
    return grouped.agg(normal_flagged=("normal_flagged", "mean"), anomalous_flagged=("anomalous_flagged", "mean"),
                       normal_above_calibration_max=("normal_above_calibration_max", "mean"),
                       n_alerts=("n_alerts", "sum"), n_false_alerts=("n_false_alerts", "sum"),
                       n_normal_rows=("n_normal_rows", "sum"), n_anomalies=("n_anomalies", "sum"),
                       n_anomalies_found=("n_anomalies_found", "sum")).assign(
        false_alerts_per_1000_rows=lambda t: 1000 * t["n_false_alerts"] / t["n_normal_rows"],
        false_alert_share=lambda t: t["n_false_alerts"] / t["n_alerts"].clip(lower=1),
        anomaly_recall=lambda t: t["n_anomalies_found"] / t["n_anomalies"].clip(lower=1)).reset_index()


COLUMNS = ["set", "detector", "threshold", "normal_flagged", "anomalous_flagged", "normal_above_calibration_max",
           "n_alerts", "n_false_alerts", "false_alert_share", "false_alerts_per_1000_rows", "anomaly_recall"]


def main(argv=None) -> int:
    parser = common.parser(__name__, __doc__)
    common.dev_set_options(parser, ["skab", "nab-dev"])
    common.output_options(parser, tag="point_flags")
    args = parser.parse_args(argv)
    per_file = pd.DataFrame([row for set_name in args.sets for row in measure(set_name, args.limit)])
    args.out.mkdir(parents=True, exist_ok=True)
    per_file.to_csv(args.out / f"{args.tag}.per_file.csv", index=False, float_format="%.4g")
    table = summary(per_file)
    table.to_csv(args.out / f"{args.tag}.csv", index=False, float_format="%.4g")
    lines = common.markdown_table(table[COLUMNS], ".3f")
    (args.out / f"{args.tag}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0
