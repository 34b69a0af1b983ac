"""Whether the state columns' events should raise alerts: an alert per never-seen event, on telemetry-dev.

    python -m benchmarks.quality state-alerts                 # the 14 channels (the default models cached)
    python -m benchmarks.quality state-alerts --limit 3       # a quick run

For each channel: the book of its state and constant columns (`seqae.data.states.StateBook`) fitted
on its training rows with the default model's column roles, its test rows' events after them (the
first test row compared with the last training row, as `docs/benchmarks.md`'s "Wide sensor files"
counts them). Every row with an event would open an alert; an event within the default alert
rules' cooldown (`seqae.alerts.AlertRules.cooldown`, the model's own) of the one before joins its
alert, which fires at its first event. These alerts are counted as live alerts are
(`seqae.metrics.alert_counts`: false when it fires outside every labelled segment and beyond
max(30 rows, 10 % of the segment's length) after it; a segment found by its first true alert), beside
the default's own live alerts (its test rows scored as a feed of their own, as `seqae score` decides
them) and the two together: which segments the events find that the default's alerts do not, and
what they cost in false alerts per 1,000 normal rows; for every event, and for each kind alone (a
value training never held, a transition it never made, a constant that moved).

The default models are `decisions`' cache (benchmarks/out/decisions/telemetry-dev: `seqae fit`'s
default, seed 0; fitted there when missing). Writes benchmarks/results/<tag>.md and <tag>.per_file.csv.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.quality import common, decisions, protocol

SET = "telemetry-dev"


def event_alerts(events: list[str], cooldown: int) -> tuple[list[tuple[int, int]], list[int]]:
    """The alerts rows with events would open: (start, end) spans and the rows they fire at. An event
    at most `cooldown` rows after the last one of an alert joins it."""
    rows = [k for k, text in enumerate(events) if text]
    spans: list[list[int]] = []
    for row in rows:
        if spans and row - spans[-1][1] <= cooldown:
            spans[-1][1] = row
        else:
            spans.append([row, row])
    return [(a, b) for a, b in spans], [a for a, _ in spans]


def found_segments(labels: np.ndarray, fired: list[int]) -> np.ndarray:
    """Per labelled segment, whether an alert fired inside it or within the tolerance after it
    (`seqae.metrics.alert_counts`' definition)."""
    from seqae import metrics

    segments, reach = metrics.segment_reach(labels)
    fired = np.asarray(fired, dtype=np.int64)
    return ((fired[:, None] >= segments[:, 0]) & (fired[:, None] <= reach)).any(axis=0)


KINDS = {  # which events open an alert: all of them, or one kind (`seqae.data.states.StateBook` writes them so)
    "all": "",
    "value": ", never seen in training",  # "mode is 7, never seen in training" (a transition reads "went")
    "transition": " went ",
    "constant": "(constant ",
}


def of_kind(text: str, kind: str) -> str:
    """The events of one row's `text` of `kind` ("; "-joined)."""
    parts = [part for part in text.split("; ") if part and KINDS[kind] in part]
    if kind == "value":
        parts = [part for part in parts if " went " not in part]
    return "; ".join(parts)


def measure(file: protocol.DevFile, detector) -> list[dict]:
    """One channel, per kind of event: the event alerts, the default's live alerts, and the two together."""
    from seqae import metrics
    from seqae.data.states import StateBook

    book = StateBook().fit(file.train, detector.roles_)
    _, last = book.events(file.train[book.columns])
    events, _ = book.events(file.test[book.columns], last)
    cooldown = int(detector.alert_rules_.cooldown)
    detection = detector.detect(file.test)
    own_spans = [(a.start, a.end) for a in detection.alerts]
    own_fired = [a.fired_at for a in detection.alerts]
    by_model = found_segments(file.labels, own_fired)
    model = metrics.alert_counts(file.labels, own_spans, fired_at=own_fired, index=file.test.index)
    rows = []
    for kind in KINDS:
        kept = [of_kind(text, kind) for text in events]
        spans, fired = event_alerts(kept, cooldown)
        alone = metrics.alert_counts(file.labels, spans, fired_at=fired, index=file.test.index)
        both = metrics.alert_counts(file.labels, own_spans + spans, fired_at=own_fired + fired, index=file.test.index)
        by_events = found_segments(file.labels, fired)
        rows.append({"file": file.name, "events": kind, "watched": len(book.columns), "cooldown": cooldown,
                     "event_rows": sum(bool(text) for text in kept), "segments": len(by_events),
                     "normal_rows": alone.n_normal_rows, "event_alerts": alone.n_alerts,
                     "event_false": alone.n_false_alerts, "event_found": int(by_events.sum()),
                     "model_alerts": model.n_alerts, "model_false": model.n_false_alerts,
                     "model_found": int(by_model.sum()), "new_found": int((by_events & ~by_model).sum()),
                     "both_found": both.n_anomalies_found, "both_false": both.n_false_alerts})
    return rows


def total_line(name: str, rows: pd.DataFrame) -> dict:
    """The channels of `rows` pooled: counts summed, false alerts per 1,000 normal rows."""
    sums = rows.drop(columns=["file", "events", "cooldown"]).sum()
    per_1000 = {f"{k}_per_1000": 1000 * sums[f"{k}_false"] / sums["normal_rows"] for k in ("event", "model", "both")}
    return {"channels": name, "events": rows["events"].iloc[0], **{k: int(v) for k, v in sums.items()}, **per_1000}


def main(argv=None) -> None:
    parser = common.parser(__name__, __doc__)
    parser.add_argument("--limit", type=int, help="the first N channels (a quick run)")
    parser.add_argument("--seed", type=int, default=0, help="the default model's seed (the cache's)")
    parser.add_argument("--refit", action="store_true", help="fit the default models again instead of the cache")
    common.output_options(parser, "state-alerts")
    args = parser.parse_args(argv)
    common.one_torch_thread()
    common.ignore_gap_warnings()
    rows = []
    for file in protocol.load(SET, args.limit):
        rows += measure(file, decisions.fitted_file(SET, file, args.seed, args.refit))
        print(", ".join(f"{k} {v}" for k, v in rows[-len(KINDS)].items()), flush=True)
    per_file = pd.DataFrame(rows)
    totals = []
    for kind in KINDS:
        of = per_file[per_file["events"] == kind]
        totals += [total_line("all", of), total_line("without MSL/C-2", of[of["file"] != "MSL/C-2"])]
    totals = pd.DataFrame(totals)
    print(totals.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    per_file.to_csv(out / f"{args.tag}.per_file.csv", index=False)
    (out / f"{args.tag}.md").write_text("\n".join(common.markdown_table(totals, ".2f")) + "\n")


if __name__ == "__main__":
    main()
