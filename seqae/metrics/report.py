"""The metrics of a labelled file as a user reads them: the retrospective ranking and the live
decisions apart, each metric with a line saying what it means; and a table of them per machine."""

from __future__ import annotations

from typing import Collection

import pandas as pd

SECTIONS = (
    ("Ranking, retrospective (each row scored from the windows around it, which look ahead):", (
        ("auc_pr", "AUC-PR", "{:.3f}", "average precision of the rows ranked by score; 1 = every anomalous row first"),
        ("vus_pr", "VUS-PR", "{:.3f}", "the same with slack at each anomaly's edges (range-aware)"),
    )),
    ("Live decisions (as `seqae watch` makes them, each row from the rows up to it):", (
        ("live_auc_pr", "live AUC-PR", "{:.3f}", "average precision of the live calibrated scores"),
        ("precision", "precision", "{:.3f}", "flagged rows that are anomalous"),
        ("recall", "recall", "{:.3f}", "anomalous rows flagged"),
        ("f1", "F1", "{:.3f}", "harmonic mean of the two"),
        ("far", "false-alarm rate (%)", "{:.2f}", "normal rows flagged"),
        ("event_f1", "event F1", "{:.3f}", "anomalies with a flag against every falsely flagged row"),
        ("n_alerts", "alerts", "{:.0f}", "alerts raised"),
        ("anomaly_recall", "anomalies found", "{:.3f}",
         "anomalies with an alert firing inside them or just after (max(30 rows, 10 %))"),
        ("alert_precision", "alert precision", "{:.3f}",
         "alerts that fired inside an anomaly; one firing before it began is false"),
        ("alert_time_precision", "alert time precision", "{:.3f}",
         "rows inside alerts that are not normal time: long alerts over normal rows count against"),
        ("normal_rows_in_alerts", "normal time in alerts", "{:.2%}", "normal rows that lie inside an alert"),
        ("normal_rows_flagged", "normal rows flagged", "{:.2%}",
         "normal rows (beyond each anomaly's tolerance) flagged"),
        ("false_alerts_per_1000_rows", "false alerts / 1,000 normal rows", "{:.2f}", "alerts firing on normal rows"),
        ("false_alerts_per_day", "false alerts per day", "{:.2f}", "the same per day of normal rows"),
        ("median_alert_delay", "median alert delay (rows)", "{:.1f}",
         "rows from an anomaly's first row to the alert that found it"),
        ("nab_score", "NAB score", "{:.1f}",
         "NAB's standard profile of the firing rows: 100 every anomaly at its start, 0 none"),
    )),
)


TABLE_COLUMNS = (  # (key, header): the per-machine table's metrics, headed by `SECTIONS`' labels or their short form
    ("auc_pr", "AUC-PR"), ("vus_pr", "VUS-PR"), None,  # None: where the ranking ends and the live decisions begin
    ("precision", "precision"), ("recall", "recall"), ("f1", "F1"), ("far", "FAR %"), ("n_alerts", "alerts"),
    ("anomaly_recall", "anomalies found"), ("alert_precision", "alert precision"),
)


def format_metrics(values: dict, means: Collection[str] = ()) -> str:
    """`values` (`seqae.metrics.evaluate_decisions`' keys) as aligned lines under their section, each
    metric with its meaning; `n/a` where a metric is undefined (no alert, no anomaly). The labels of
    the keys in `means` say `(mean)`: a mean over files or machines (`seqae.metrics.pooled_decisions`)."""
    labelled = [(heading, [(key, label + (" (mean)" if key in means else ""), fmt, meaning)
                           for key, label, fmt, meaning in rows]) for heading, rows in SECTIONS]
    width = max(len(label) for _, rows in labelled for _, label, _, _ in rows)
    lines = []
    for heading, rows in labelled:
        lines.append(heading)
        for key, label, fmt, meaning in rows:
            lines.append(f"  {label:<{width}}  {_shown(values.get(key, float('nan')), fmt):>8}  {meaning}")
    n_anomalous = int(values.get("tp", 0) + values.get("fn", 0))
    n_points = int(sum(values.get(k, 0) for k in ("tp", "fp", "tn", "fn")))
    n_flagged = int(values.get("tp", 0) + values.get("fp", 0))
    lines.append(f"({n_anomalous} of {n_points} rows labelled anomalous, {n_flagged} flagged)")
    return "\n".join(lines)


def format_per_asset(table: pd.DataFrame, asset_column: str) -> str:
    """One line per machine of `table` (`seqae.tracking.evaluate_fleet`'s per-machine table): its rows
    and `TABLE_COLUMNS`, the retrospective ranking apart from the live decisions by a `|`. A machine
    scored by the fleet's shared detector is marked `(shared)`."""
    formats = {key: fmt for _, rows in SECTIONS for key, _, fmt, _ in rows}
    names = [f"{name} (shared)" if detector == "shared" else str(name)
             for name, detector in zip(table[asset_column], table["detector"])]
    columns = [(asset_column, names), ("rows", [str(int(n)) for n in table["n_rows"]])]
    for entry in TABLE_COLUMNS:
        columns.append(("|", ["|"] * len(table)) if entry is None else
                       (entry[1], [_shown(value, formats[entry[0]]) for value in table[entry[0]]]))
    widths = [max(len(header), *(len(cell) for cell in cells)) for header, cells in columns]
    lines = ["  ".join(header.ljust(w) if k == 0 else header.rjust(w)
                       for k, ((header, _), w) in enumerate(zip(columns, widths)))]
    for row in range(len(table)):
        lines.append("  ".join(cells[row].ljust(w) if k == 0 else cells[row].rjust(w)
                               for k, ((_, cells), w) in enumerate(zip(columns, widths))))
    return "\n".join(lines)


def _shown(value, fmt: str) -> str:
    return fmt.format(value) if value == value else "n/a"
