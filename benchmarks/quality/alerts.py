"""Alert metrics of seqae's detectors with the alert rules (seqae.alerts) on the demo data, SKAB and nab-dev.

    python -m benchmarks.quality alerts                 # score (cached) and measure everything
    python -m benchmarks.quality alerts --sets skab --models deviation
    python -m benchmarks.quality alerts --grid --models deviation lstm-ae --sets generated normal-skab \
        --thresholds quantile:q=0.99 --tag=-grid        # the search the rule defaults were chosen by
    python -m benchmarks.quality alerts --grid extreme --models deviation lstm-ae --sets generated normal-skab \
        --thresholds quantile:q=0.99 --tag=-extreme     # `extreme` varied alone

Protocol: each file is fitted on its training rows (protocol.py: SKAB's first 400, nab-dev's first
15 %, the demo's normal first half of 3,000 generated rows) and its test rows are scored on their
own, as `seqae score` scores a file; the threshold and the alert rules are fitted on the detector's
held-out validation scores (the last 20 % of the training rows), never on labels. An alert is true
when it overlaps a labelled segment extended by max(30 rows, 10 % of the segment's length) after its
end (`seqae.metrics.alert_counts`). Scores are cached under benchmarks/out/alert-scores/ so that
changing the rules refits nothing.

Models: `deviation` (defaults), `lstm-ae` (the demo's: window 16, hidden 32, latent 8, 20 epochs),
`lstm-ae-cli` (every default of `seqae fit --model lstm-ae`, seed 0), `auto-cli` (the detector
`seqae fit --seed 0` keeps).

Label-free sets, used to choose the defaults (no test label of SKAB, nab-dev or the demo is read):
    normal-skab   SKAB's anomaly-free recording (9,405 rows): fit on its first 400 rows, false
                  alerts per 1,000 rows on the rest.
    generated     seqae.synthetic series with seeds 1-8 (the demo is seed 0), anomalies injected by
                  the generator, 4 kinds each: recall, precision and fragments per anomaly.

Writes benchmarks/results/alerts<tag>.csv (one row per set, model, threshold and rules),
alerts<tag>.per_file.csv and alerts<tag>.md; with --grid also alerts<tag>.choice.csv, the rule
settings ranked as the defaults were chosen (`choose`).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from benchmarks.quality import common, protocol

CACHE = common.OUT / "alert-scores"
SETS = ("demo", "skab", "nab-dev", "normal-skab", "generated")
MODELS = ("deviation", "lstm-ae", "lstm-ae-cli", "auto-cli")
GENERATED_SEEDS = range(1, 9)


def make_detector(model: str):
    from seqae.detectors import make_detector as make

    if model == "auto-cli":  # `seqae fit --seed 0`: the detector auto keeps (its networks, never kept, left out)
        return _AutoFit()
    if model == "deviation":
        return make("deviation")
    if model == "lstm-ae-cli":  # `seqae fit --model lstm-ae --seed 0`: every default
        return make("lstm-ae", random_state=0)
    # the demo's small LSTM-AE (seqae.tracking.run_demo)
    return make("lstm-ae", window_size=16, hidden_size=32, latent_dim=8, epochs=20, batch_size=64,
                learning_rate=3e-3, patience=5, random_state=0)


class _AutoFit:
    """`fit(frame)` gives the detector `seqae.autoconfig.auto_fit` chooses, as `seqae fit` does."""

    def fit(self, frame):
        from seqae.autoconfig import auto_fit

        return auto_fit(frame, random_state=0, networks=False).detector


def dev_files(set_name: str, limit: int | None = None) -> list[protocol.DevFile]:
    """The files of `set_name` (SETS), the first `limit` of them when given."""
    from seqae.synthetic import make_sensor_data

    if set_name in ("skab", "nab-dev"):
        return protocol.load(set_name, limit)
    if set_name == "demo":
        frame, labels, _ = make_sensor_data(3000, 4, normal_rows=1500, random_state=0)
        return [protocol.DevFile("demo", frame.iloc[:1500], frame.iloc[1500:], labels.to_numpy()[1500:])]
    if set_name == "generated":
        out = []
        for seed in GENERATED_SEEDS:
            frame, labels, _ = make_sensor_data(3000, 4, normal_rows=1500, random_state=seed)
            out.append(protocol.DevFile(f"seed{seed}", frame.iloc[:1500], frame.iloc[1500:],
                                        labels.to_numpy()[1500:]))
        return out[:limit]
    if set_name == "normal-skab":
        raw = pd.read_csv(protocol.SKAB_DIR / "anomaly-free" / "anomaly-free.csv", sep=";",
                          index_col="datetime", parse_dates=True).astype(np.float64)
        n = protocol.SKAB_TRAIN_ROWS
        return [protocol.DevFile("anomaly-free", raw.iloc[:n], raw.iloc[n:], np.zeros(len(raw) - n, np.int8))]
    raise ValueError(set_name)


def scored(set_name: str, model: str, limit: int | None = None) -> list[dict]:
    """Per file: test scores, contributions, calibration scores, labels, index; cached on disk."""
    import torch

    torch.set_num_threads(1)
    out = []
    for file in dev_files(set_name, limit):
        path = CACHE / set_name / model / (file.name.replace("/", "_") + ".npz")
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                detector = make_detector(model).fit(file.train)
                detection = detector.detect(file.test)
            calibration = detector.validation_scores_
            timed = isinstance(file.test.index, pd.DatetimeIndex)
            index = file.test.index.values.astype("datetime64[ns]").astype(np.int64) if timed \
                else np.arange(len(file.test))
            np.savez(path, scores=detection.scores, contributions=detection.contributions,
                     calibration=calibration, labels=file.labels, index=index, timed=timed,
                     features=np.asarray(list(detector.feature_names_in_), dtype=str))
        data = np.load(path)
        index = pd.DatetimeIndex(data["index"]) if bool(data["timed"]) else pd.RangeIndex(len(data["scores"]))
        out.append({"name": file.name, "scores": data["scores"], "contributions": data["contributions"],
                    "calibration": data["calibration"], "labels": data["labels"], "index": index,
                    "features": list(data["features"])})
    return out


def threshold_value(spec: str, calibration: np.ndarray, index, rules_params: dict | None = None
                    ) -> tuple[float, object]:
    """The threshold's value and, for an alert budget, its fitted rules."""
    from seqae.alerts import rows_per_day  # importing seqae.alerts registers the `alerts` threshold
    from seqae.threshold_registry import parse_threshold

    threshold = parse_threshold(spec)
    if spec.startswith("alerts:per_day"):
        threshold.set_params(rows_per_day=rows_per_day(index))
    if spec.startswith("alerts") and rules_params:
        threshold.set_params(**rules_params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        threshold.fit(calibration)
    return threshold.value_, getattr(threshold, "rules_", None)


def measure(files: list[dict], spec: str, rules_params: dict | None) -> tuple[dict, list[dict]]:
    from seqae import metrics
    from seqae.alerts import AlertRules, find_alerts

    total = strict_total = None
    per_file = []
    for f in files:
        value, budget_rules = threshold_value(spec, f["calibration"], f["index"], rules_params)
        if rules_params is None:  # flags straight to intervals: the rules off
            rules = AlertRules(min_gap=0, min_length=1, hysteresis=1.0, extreme=1.0, cooldown=0)
        elif budget_rules is not None:
            rules = budget_rules
        else:
            rules = AlertRules(**rules_params)
        alerts = find_alerts(f["index"], f["scores"], f["contributions"], value, f["calibration"], f["features"],
                             rules=rules)
        timed_index = f["index"] if isinstance(f["index"], pd.DatetimeIndex) else None
        counts = metrics.alert_counts(f["labels"], alerts.spans(), fired_at=alerts.fired_rows(), index=timed_index)
        strict = metrics.alert_counts(f["labels"], alerts.spans(), fired_at=alerts.fired_rows(), index=timed_index,
                                      max_early_rows=STRICT_EARLY_ROWS)
        total = counts if total is None else total + counts
        strict_total = strict if strict_total is None else strict_total + strict
        per_file.append({"file": f["name"], **counts.to_dict(), "threshold": value,
                         **{f"strict_{k}": v for k, v in strict.to_dict().items()}})
    return {**total.to_dict(), **{f"strict_{k}": v for k, v in strict_total.to_dict().items()
                                  if k in STRICT_KEYS}}, per_file


STRICT_EARLY_ROWS = 30  # the strict count: an alert is true only if it fired at most 30 rows before the segment
STRICT_KEYS = ("anomaly_recall", "alert_precision", "false_alerts_per_1000_rows", "alerts_per_anomaly_found")

RULES = {
    "none": None,  # flags straight to intervals, as before
    "default": {},
}


def rule_grid(which: str = "all") -> dict:
    """The rule settings the defaults were chosen from, on the label-free sets only (`choose`);
    `which="extreme"`: `extreme` alone, the others at their defaults."""
    grid = {}
    if which == "extreme":
        return {f"extreme{e:g}": {"extreme": e} for e in (1.5, 2.0, 3.0, 5.0, 10.0, 100.0)}
    for min_gap in (0, 10, 30, 60, 120):
        for min_length in (1, 5, 10, 20, 30, 50):
            for hysteresis in (0.5, 0.75, 1.0):
                for cooldown in (0, 120, 600):
                    grid[f"gap{min_gap}-len{min_length}-hys{hysteresis}-cool{cooldown}"] = {
                        "min_gap": min_gap, "min_length": min_length, "hysteresis": hysteresis,
                        "cooldown": cooldown}
    for extreme in (2.0, 3.0, 5.0, 10.0, 100.0):
        grid[f"extreme{extreme:g}"] = {"extreme": extreme}
    return grid


def choose(table: pd.DataFrame) -> pd.DataFrame:
    """The rule the defaults follow, from the label-free sets only: the largest mean over models of
    recall x precision x min(1, alerts per anomaly found) on `generated`, counted strictly (an alert
    raised more than 30 rows before an anomaly does not find it; the last factor counts an alert that
    swallows two anomalies against it), among the rules that raise at most 1 false alert per 1,000
    rows on SKAB's anomaly-free recording with every model."""
    grid = table[table["set"].isin(["generated", "normal-skab"])]
    quiet = grid[grid["set"] == "normal-skab"].groupby("rules")["false_alerts_per_1000_rows"].max() <= 1.0
    generated = grid[grid["set"] == "generated"].assign(
        score=lambda t: (t["strict_anomaly_recall"] * t["strict_alert_precision"]
                         * t["strict_alerts_per_anomaly_found"].clip(upper=1.0)))
    ranked = generated.groupby("rules").agg(score=("score", "mean"), recall=("strict_anomaly_recall", "mean"),
                                            precision=("strict_alert_precision", "mean"),
                                            alerts_per_anomaly=("strict_alerts_per_anomaly_found", "mean"),
                                            loose_recall=("anomaly_recall", "mean"),
                                            loose_precision=("alert_precision", "mean"),
                                            false_per_1000=("false_alerts_per_1000_rows", "mean"))
    ranked["quiet_on_normal_skab"] = quiet.reindex(ranked.index).fillna(False).astype(bool)
    return ranked.sort_values(["quiet_on_normal_skab", "score"], ascending=False)


def main(argv=None) -> int:
    parser = common.parser(__name__, __doc__)
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--thresholds", nargs="+",
                        default=["quantile:q=0.99", "far:target=0.01", "alerts:per_1000_rows=1", "alerts:per_day=1"])
    parser.add_argument("--grid", nargs="?", const="all", choices=["all", "extreme"],
                        help="also every rule setting of the grid (`extreme`: that rule alone)")
    parser.add_argument("--limit", type=int, help="the first N files of each set (a quick run)")
    common.output_options(parser)
    parser.add_argument("--tag", default="", help="suffix of the result files' names (alerts<tag>.csv)")
    args = parser.parse_args(argv)

    rules = dict(RULES)
    if args.grid:
        rules.update(rule_grid(args.grid))
    rows, per_file_rows = [], []
    for set_name in args.sets:
        for model in args.models:
            files = scored(set_name, model, args.limit)
            for spec in args.thresholds:
                for rule_name, params in rules.items():
                    summary, per_file = measure(files, spec, params)
                    rows.append({"set": set_name, "model": model, "threshold": spec, "rules": rule_name, **summary})
                    per_file_rows += [{"set": set_name, "model": model, "threshold": spec, "rules": rule_name, **r}
                                      for r in per_file]
                    print(f"{set_name:12s} {model:10s} {spec:24s} {rule_name:24s} "
                          f"recall {summary['anomaly_recall']:.3f} precision {summary['alert_precision']:.3f} "
                          f"alerts {summary['n_alerts']:5d} (false {summary['n_false_alerts']:4d}, "
                          f"{summary['false_alerts_per_1000_rows']:.2f}/1000 rows, "
                          f"{summary['false_alerts_per_day']:.2f}/day) per anomaly "
                          f"{summary['alerts_per_anomaly_found']:.2f} delay {summary['median_alert_delay']} | strict "
                          f"recall {summary['strict_anomaly_recall']:.3f} precision "
                          f"{summary['strict_alert_precision']:.3f}",
                          flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame(rows)
    table.to_csv(args.out / f"alerts{args.tag}.csv", index=False, float_format="%.4g")
    pd.DataFrame(per_file_rows).to_csv(args.out / f"alerts{args.tag}.per_file.csv", index=False, float_format="%.4g")
    (args.out / f"alerts{args.tag}.md").write_text(markdown(table))
    if args.grid:
        ranked = choose(table)
        ranked.to_csv(args.out / f"alerts{args.tag}.choice.csv", float_format="%.4g")
        print(ranked.head(15).to_string(float_format=lambda v: f"{v:.3f}"))
    return 0


def markdown(table: pd.DataFrame) -> str:
    columns = ["set", "model", "threshold", "rules", "anomaly_recall", "alert_precision", "n_alerts",
               "n_false_alerts", "false_alerts_per_1000_rows", "false_alerts_per_day", "alerts_per_anomaly_found",
               "median_alert_delay", "n_anomalies", "n_anomalies_found", "strict_anomaly_recall",
               "strict_alert_precision", "strict_false_alerts_per_1000_rows"]
    from seqae.alerts import AlertRules

    lines = ["# Alert metrics (benchmarks/quality/alerts.py)", "",
             "Each file fitted on its training rows, its test rows scored on their own; threshold and alert "
             "rules fitted on the detector's held-out validation rows. An alert is true when it overlaps a "
             "labelled segment extended by max(30 rows, 10 % of the segment's length) after its end. "
             "`rules`: `none` = each run of flags is an alert (as before); `default` = "
             f"`{AlertRules().get_params()}`. Delays: median rows from a segment's start to the firing row "
             "of the first alert that hits it (0 when one was already raised). `strict_*`: the same, but an alert "
             "that fired more than 30 rows before a segment began does not count as hitting it. Sets `normal-skab` and "
             "`generated` carry no test labels of SKAB, nab-dev or the demo: the defaults were chosen on "
             "them (`--grid`).", ""] + common.markdown_table(table[columns], ".3g")
    return "\n".join(lines) + "\n"
