"""Decisions as live monitoring has them, on the dev sets: what an operator would have been told.

    python -m benchmarks.quality decisions                                   # skab, nab-dev, telemetry-dev
    python -m benchmarks.quality decisions --sets skab nab-dev --limit 5     # a quick run
    python -m benchmarks.quality decisions --rules '{"settle": 200}'         # other alert rules (from the cache)
    python -m benchmarks.quality decisions --grid '{"burn_in": [25, 50, 100], "extreme": [2, 3]}'
    python -m benchmarks.quality decisions --grid '{"threshold_quantile": [0.99, 0.995]}'   # other thresholds
    python -m benchmarks.quality decisions --lstm-over-one-sensor --rules '{"record": 300}'  # another default
    python -m benchmarks.quality decisions --knn-params '{"threshold_on": "all"}'  # the default's knn-window refitted

For each file: `seqae fit`'s default (`autoconfig.auto_fit`, seed 0) fitted on its training rows
(protocol.py), then its test rows scored as a feed of their own, as `seqae score test.csv` (and
`seqae watch`) decide them: causal scores, calibrated against the normal reference, flags and
alerts by the model's alert rules (`BaseDetector.detect`). Alerts are counted where they fire
(`seqae.metrics.alert_counts`, the definitions of ../shared/tools/live_decisions.py): anomaly recall,
alert precision, false alerts per 1,000 normal rows, the median delay, the normal rows inside
alerts and the normal rows flagged; NAB's score of the firing rows beside them. Counts are pooled
over each set's files.

The fitted models are cached under benchmarks/out/decisions/ (`--refit` fits again): other alert
rules (`--rules`, `--grid`: `seqae.alerts.AlertRules` parameters, calibrated on the model's own
calibration scores) are measured by scoring the test rows again, without fitting. Writes
benchmarks/results/<tag>.md and <tag>.per_file.csv.
"""

from __future__ import annotations

import itertools
import json
import shutil
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.quality import common, protocol

CACHE = protocol.REPO / "benchmarks" / "out" / "decisions"
SETS = ("skab", "nab-dev", "telemetry-dev")
TARGETS = {  # issue 25: recall, precision, false per 1,000 normal rows, normal rows in alerts, normal rows flagged
    "skab": (0.9, 0.8, 1.0, 0.05, 0.05),
    "nab-dev": (0.7, 0.6, 0.1, 0.05, 0.05),
}


def fitted_file(set_name: str, file: protocol.DevFile, seed: int, refit: bool, networks: bool = True,
                lstm_over_one_sensor: bool = False, knn_params: dict | None = None):
    """The default fitted on the file's training rows (cached: saved with `BaseDetector.save`); with
    `lstm_over_one_sensor`, over one sensor the nearest windows and the default's LSTM member (as
    for several sensors), at the default's window; with `knn_params`, the default fitted again with
    these parameters on its `knn-window` (the detector, or the ensemble's member; cached apart)."""
    from seqae import autoconfig
    from seqae.autoconfig.candidates import RECURRENT_MEMBER
    from seqae.detectors import BaseDetector

    suffix = ("" if networks else ".baselines") + (".lstm-one-sensor" if lstm_over_one_sensor else "")
    if knn_params:
        base = fitted_file(set_name, file, seed, False, networks, lstm_over_one_sensor)  # its parameters alone
        suffix += ".knn-" + "-".join(f"{key}={value}" for key, value in sorted(knn_params.items()))
    path = CACHE / set_name / f"{file.name.replace('/', '__')}.seed{seed}{suffix}"
    if path.exists() and not refit:
        return BaseDetector.load(path)
    if knn_params:
        detector = _with_knn_params(base, knn_params).fit(file.train)
        return _cached(detector, path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        detector = autoconfig.auto_fit(file.train, random_state=seed, networks=networks).detector
        if lstm_over_one_sensor and detector.model_type == "knn-window":
            w = detector.window_size
            members = [["knn-window", {}], [RECURRENT_MEMBER[0], dict(RECURRENT_MEMBER[1])]]
            candidate = autoconfig.Candidate(f"knn-window+lstm-ae w={w}", "ensemble",
                                             {"window_size": w, "members": members})
            detector = autoconfig.auto_fit(file.train, random_state=seed, window_size=w,
                                           candidates=[candidate]).detector
    return _cached(detector, path)


def _cached(detector, path: Path):
    if path.exists():
        shutil.rmtree(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    detector.save(path)
    return detector


def _with_knn_params(detector, params: dict):
    """An unfitted copy of fitted `detector` with `params` on its `knn-window` (itself, or its member)."""
    from sklearn.base import clone

    copy = clone(detector)
    if copy.model_type == "knn-window":
        return copy.set_params(**params)
    if copy.model_type == "ensemble":
        return copy.set_params(members=[[kind, {**member, **params} if kind == "knn-window" else member]
                                        for kind, member in copy.members])
    raise SystemExit(f"--knn-params: the default of this file is {copy.model_type}, with no knn-window")


def with_rules(detector, rules: dict):
    """`detector` deciding by alert rules `rules` (AlertRules parameters beyond its own), calibrated
    as its own were; returns it. `threshold_quantile` among them: the threshold at that quantile of
    the calibration scores the rules keep (`AlertRules.calibration_`) instead of the model's own."""
    from seqae.alerts import AlertRules

    rules = dict(rules)
    quantile = rules.pop("threshold_quantile", None)
    if rules or quantile is not None:
        fitted = detector.alert_rules_
        params = {**fitted.get_params(), **rules}
        value = detector.threshold_.value_ if quantile is None else float(np.quantile(fitted.calibration_, quantile))
        detector.alert_rules_ = AlertRules(**params).fit(fitted.calibration_, value)
        detector.level_rows_ = min(detector.level_rows_ or params["memory"], params["memory"])
    return detector


def detected(detector, file: protocol.DevFile, rules: dict):
    """The decisions (`Detection`) of the file's test rows, a feed of their own, under alert rules
    `rules` (AlertRules parameters beyond the model's own) calibrated as the model's own were; the
    model keeps its own rules."""
    fitted, level_rows = detector.alert_rules_, detector.level_rows_
    with_rules(detector, rules)
    try:
        return detector.detect(file.test)
    finally:
        detector.alert_rules_, detector.level_rows_ = fitted, level_rows


def decide(detector, file: protocol.DevFile, rules: dict):
    """The alert counts of the file's test rows, a feed of their own, under alert rules `rules`
    (AlertRules parameters beyond the model's own) calibrated as the model's own were."""
    from seqae import metrics

    detection = detected(detector, file, rules)
    spans = [(a.start, a.end) for a in detection.alerts]
    fired = [a.fired_at for a in detection.alerts]
    return metrics.alert_counts(file.labels, spans, fired_at=fired, index=file.test.index, flags=detection.flags)


def summary_line(set_name: str, counts) -> str:
    target = TARGETS.get(set_name)
    aim = "" if target is None else (f"  (targets >= {target[0]}, >= {target[1]}, <= {target[2]}, "
                                     f"<= {100 * target[3]:.0f} %, <= {100 * target[4]:.0f} %)")
    return (f"{set_name}: recall {counts.n_anomalies_found}/{counts.n_anomalies} = {counts.anomaly_recall:.2f}, "
            f"precision {counts.n_true_alerts}/{counts.n_alerts} = {counts.alert_precision:.2f}, "
            f"{counts.false_alerts_per_1000_rows:.2f} false per 1,000 normal rows, median delay "
            f"{counts.median_alert_delay:.0f} rows, alerts cover {100 * counts.normal_rows_in_alerts:.1f} % of normal "
            f"rows, flags on {100 * counts.normal_rows_flagged:.1f} %, NAB {counts.nab_score:.1f}{aim}")


def run(sets, limit, seed, refit, variants: list[dict], verbose: bool, networks: bool = True,
        lstm_over_one_sensor: bool = False, knn_params: dict | None = None):
    rows, lines = [], []
    for set_name in sets:
        fitted = []
        for file in protocol.load(set_name, limit):
            fitted.append((file, fitted_file(set_name, file, seed, refit, networks, lstm_over_one_sensor, knn_params)))
            if verbose:
                detector = fitted[-1][1]
                print(f"{set_name} {file.name}: {detector.model_type} w={detector.window_size}", file=sys.stderr,
                      flush=True)
        for rules in variants:
            total = None
            for file, detector in fitted:
                counts = decide(detector, file, rules)
                total = counts if total is None else total + counts
                rows.append({"set": set_name, "file": file.name, "rules": json.dumps(rules), **counts.to_dict()})
            lines.append((json.dumps(rules), summary_line(set_name, total)))
    return pd.DataFrame(rows), lines


def variants_of(rules: str | None, grid: str | None) -> list[dict]:
    base = json.loads(rules) if rules else {}
    if not grid:
        return [base]
    axes = json.loads(grid)
    return [{**base, **dict(zip(axes, values))} for values in itertools.product(*axes.values())]


def main(argv=None) -> None:
    parser = common.parser(__name__, __doc__)
    common.dev_set_options(parser, SETS, seeds=None)
    parser.add_argument("--seed", type=int, default=0, help="the model seed")
    parser.add_argument("--rules", help="AlertRules parameters as JSON, e.g. '{\"settle\": 200}'")
    parser.add_argument("--grid", help="AlertRules parameters to vary, as JSON lists, e.g. '{\"burn_in\": [25, 50]}'")
    parser.add_argument("--refit", action="store_true", help="fit again instead of the cached scores")
    parser.add_argument("--no-networks", action="store_true",
                        help="auto-configuration without its network candidates (a quicker fit of the same choice "
                             "where auto keeps a baseline)")
    parser.add_argument("--lstm-over-one-sensor", action="store_true",
                        help="over one sensor, the default's LSTM member beside the nearest windows (the default "
                             "keeps it for several sensors only)")
    parser.add_argument("--knn-params", help="parameters of the default's knn-window (alone or as a member) as JSON, "
                                             "the default fitted again with them, e.g. '{\"threshold_on\": \"all\"}'")
    parser.add_argument("-v", "--verbose", action="store_true", help="a line per file")
    common.output_options(parser, "decisions")
    args = parser.parse_args(argv)
    common.one_torch_thread()
    common.ignore_gap_warnings()
    per_file, lines = run(args.sets, args.limit, args.seed, args.refit, variants_of(args.rules, args.grid),
                          args.verbose, networks=not args.no_networks, lstm_over_one_sensor=args.lstm_over_one_sensor,
                          knn_params=json.loads(args.knn_params) if args.knn_params else None)
    for rules, line in lines:
        print(f"{rules} {line}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    per_file.to_csv(out / f"{args.tag}.per_file.csv", index=False)
    (out / f"{args.tag}.md").write_text("\n".join(f"- `{rules}` {line}" for rules, line in lines) + "\n")


if __name__ == "__main__":
    main()
