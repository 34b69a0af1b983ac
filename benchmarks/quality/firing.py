"""What tells a false alert from a true one: its calibrated score when it fired, and what a higher bar costs.

    python -m benchmarks.quality firing                        # skab, nab-dev, telemetry-dev (the cached defaults)
    python -m benchmarks.quality firing --sets nab-dev --levels 1 1.5 2 3
    python -m benchmarks.quality firing --rules '{"fire_level": 1.0}'   # other alert rules (decisions.py)

The decisions study (`decisions.py`) measures the defaults' alerts where they fire. This one asks
whether any rule that only raises the bar could keep the anomalies and drop the false alerts: for
each alert of the defaults (each test file a feed of its own, as `seqae watch` has it), its
calibrated score at the row it fired (1.0 = the model's threshold), the mean of its episode's
calibrated scores up to that row, and its peak over its whole life (known only once it has closed:
a bound in hindsight, which no live rule has). Then, for each level, the alerts whose feature
reached it are kept and counted again as the decisions study counts (`seqae.metrics.alert_counts`):
anomaly recall, alert precision, false alerts per 1,000 normal rows. Keeping a subset of the fired
alerts is what any stricter firing rule can at best do to them (a rule that waits longer finds no
anomaly the defaults miss); where the features of true and false alerts overlap, no bar separates
them, and what is left is the score's own ranking, not the decision layer. The other way round,
the labelled anomalies no alert found, with the highest calibrated score inside their reach: one
that never reaches 1.0 is beyond any looser rule too.

Uses the models cached by the decisions study (`benchmarks/out/decisions/`, fitted there when
missing). Writes benchmarks/results/<tag>.md and <tag>.per_alert.csv.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.quality import common, decisions, protocol

FEATURES = {  # column -> what it is, in the written table
    "at_fire": "calibrated score at the row it fired",
    "mean_to_fire": "mean calibrated score of its episode up to that row",
    "peak": "its peak calibrated score, over its whole life (hindsight)",
}
LEVELS = (1.0, 1.2, 1.5, 2.0, 3.0, 5.0)


def decided(set_name: str, file: protocol.DevFile, detector, rules: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The file's test rows decided as a feed of their own (under alert rules `rules` beyond the
    model's own): one row per alert (where it fired, its features, and whether it fired inside a
    labelled segment's reach: `true`), and one per labelled segment no alert found, with the highest
    calibrated score inside its reach (below 1.0: no rule on these scores could have found it)."""
    from seqae import metrics

    detection = decisions.detected(detector, file, rules)
    scores = np.nan_to_num(detection.scores, nan=-np.inf)
    segments, reach = metrics.segment_reach(file.labels)
    fired = np.array([alert.fired_at for alert in detection.alerts], dtype=np.int64)
    counted = (fired[:, None] >= segments[:, 0]) & (fired[:, None] <= reach)  # (alerts, segments)
    alerts = []
    for alert, true in zip(detection.alerts, counted.any(axis=1)):
        episode = scores[alert.start:alert.fired_at + 1]
        alerts.append({"set": set_name, "file": file.name, "start": alert.start, "fired_at": alert.fired_at,
                       "end": alert.end, "true": bool(true), "reason": alert.reason,
                       "at_fire": float(scores[alert.fired_at]), "mean_to_fire": float(episode.mean()),
                       "peak": float(alert.peak_score)})
    missed = [{"set": set_name, "file": file.name, "start": first, "end": last,
               "highest": float(scores[first:last_counted + 1].max())}
              for (first, last), last_counted, found in zip(segments, reach, counted.any(axis=0)) if not found]
    return (pd.DataFrame(alerts, columns=["set", "file", "start", "fired_at", "end", "true", "reason", *FEATURES]),
            pd.DataFrame(missed, columns=["set", "file", "start", "end", "highest"]))


def kept_counts(files: list, alerts: pd.DataFrame, feature: str, level: float):
    """The decisions study's counts, pooled over `files`, of the alerts whose `feature` reached `level`."""
    from seqae import metrics

    total = None
    for file in files:
        mine = alerts[(alerts.file == file.name) & (alerts[feature] >= level)]
        counts = metrics.alert_counts(file.labels, list(zip(mine.start, mine.end)), fired_at=list(mine.fired_at),
                                      index=file.test.index)
        total = counts if total is None else total + counts
    return total


def quantiles(alerts: pd.DataFrame) -> list[str]:
    lines = ["| alerts | n | " + " | ".join(f"{name}: 25 / 50 / 75 %" for name in FEATURES) + " |",
             "|---|---|" + "---|" * len(FEATURES)]
    for label, group in (("true", alerts[alerts["true"]]), ("false", alerts[~alerts["true"]])):
        cells = [" / ".join(f"{q:.2f}" for q in group[name].quantile([0.25, 0.5, 0.75])) if len(group) else "–"
                 for name in FEATURES]
        lines.append(f"| {label} | {len(group)} | " + " | ".join(cells) + " |")
    return lines


def frontier(files: list, alerts: pd.DataFrame, levels) -> list[str]:
    lines = ["| kept: alerts whose ... reached | level | anomaly recall | alert precision | false alerts "
             "| per 1,000 normal rows |", "|---|---|---|---|---|---|"]
    for feature, meaning in FEATURES.items():
        for level in levels:
            c = kept_counts(files, alerts, feature, level)
            lines.append(f"| {meaning} | {level:g} | {c.n_anomalies_found}/{c.n_anomalies} = {c.anomaly_recall:.2f} "
                         f"| {c.n_true_alerts}/{c.n_alerts} = {c.alert_precision:.2f} | {c.n_alerts - c.n_true_alerts} "
                         f"| {c.false_alerts_per_1000_rows:.2f} |")
    return lines


def missed_line(missed: pd.DataFrame) -> str:
    """What a looser rule could find: the anomalies no alert found, and how many never reached 1.0."""
    below = missed[missed.highest < 1.0]
    line = f"Anomalies no alert found: {len(missed)}, {len(below)} of them never reaching the threshold live"
    if len(below):
        line += (f" (their highest calibrated score {below.highest.min():.3f} to {below.highest.max():.3f}): no rule "
                 "on these scores finds those")
    return line + "."


def main(argv=None) -> None:
    parser = common.parser(__name__, __doc__)
    common.dev_set_options(parser, decisions.SETS)
    parser.add_argument("--seed", type=int, default=0, help="the model seed (of the cached defaults)")
    parser.add_argument("--rules", default="{}", help="AlertRules parameters as JSON (as in the decisions study)")
    parser.add_argument("--levels", nargs="+", type=float, default=list(LEVELS),
                        help="the bars, in calibrated units (default: %(default)s)")
    common.output_options(parser, "firing")
    args = parser.parse_args(argv)
    common.ignore_gap_warnings()
    out = [f"# {__doc__.strip().splitlines()[0]}", "",
           f"`python -m benchmarks.quality firing --sets {' '.join(args.sets)} --rules '{args.rules}'`: the defaults "
           f"(seed {args.seed}), each test file a feed of its own.", ""]
    rules = json.loads(args.rules)
    tables = []
    for set_name in args.sets:
        files = list(protocol.load(set_name, args.limit))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            models = [decisions.fitted_file(set_name, file, args.seed, False) for file in files]
            both = [decided(set_name, file, model, rules) for file, model in zip(files, models)]
        alerts = pd.concat([pair[0] for pair in both], ignore_index=True).astype({"true": bool})
        missed = pd.concat([pair[1] for pair in both], ignore_index=True)
        tables.append(alerts)
        out += [f"## {set_name} ({len(files)} files)", "", *quantiles(alerts), "",
                *frontier(files, alerts, args.levels), "", missed_line(missed), ""]
    text = "\n".join(out)
    print(text)
    folder = Path(args.out)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{args.tag}.md").write_text(text)
    pd.concat(tables, ignore_index=True).to_csv(folder / f"{args.tag}.per_alert.csv", index=False)
