"""Operator feedback replayed in process: the first false alert of each file judged normal, the file scored again.

    python -m benchmarks.quality feedback                       # skab and nab-dev, every file
    python -m benchmarks.quality feedback --sets nab-dev --limit 6
    python -m benchmarks.quality feedback --rules '{"record": 300}'    # other alert rules (decisions --rules)
    python -m benchmarks.quality feedback --every --tag feedback-every    # a verdict on every false alert

For each file: the cached default of the decisions study (`decisions.fitted_file`: `seqae fit`'s
default, seed 0, on the file's training rows) scores the test rows as a feed of their own
(`BaseDetector.detect`, as `seqae score` and `seqae watch` decide them). The first alert that fires
outside every labelled segment and its tolerance (`seqae.metrics`' max(30 rows, 10 % of the
segment), as ../shared/tools/feedback_replay.py judges) is given a `normal` verdict: `learn_normal` on the alert's
rows with the `window_size - 1` rows before them, at the level the feed followed when it raised it (`Alert.followed_level`). The
test rows are then scored again from their first row. Reported over the files with a false alert:
the false alerts that fire after the verdict's last row, before and after it, and the labelled
segments found, before and after (the issue's targets: the later false alerts fall by at least
half, segment recall by at most 0.02). Writes benchmarks/results/<tag>.md and <tag>.per_file.csv.

`--every`: an operator who judges every false alert as it comes. The first false alert is given a
normal verdict, the test rows are scored again from their first row, the next false alert that
fires after the last verdict's rows is given one, and so on until none is left: the false alerts
the operator saw (each with its verdict) against the false alerts without feedback, and the
segments found by the last version against the first.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.quality import common, protocol
from benchmarks.quality.decisions import fitted_file, with_rules
from seqae.metrics import ALERT_TOLERANCE_ROWS, ALERT_TOLERANCE_SHARE

SETS = ("skab", "nab-dev")


def judged(detection, labels: np.ndarray) -> tuple[list[int], list[bool], list[tuple[int, int, int]]]:
    """The rows where the alerts fired, whether each is true (inside a segment or its tolerance),
    and the segments with their tolerance."""
    edges = np.flatnonzero(np.diff(np.r_[0, labels, 0]))
    segments = [(start, end - 1, max(ALERT_TOLERANCE_ROWS, int(ALERT_TOLERANCE_SHARE * (end - start))))
                for start, end in zip(edges[::2], edges[1::2])]
    fired = [alert.fired_at for alert in detection.alerts]
    true = [any(s <= f <= e + t for s, e, t in segments) for f in fired]
    return fired, true, segments


def found(fired: list[int], segments) -> int:
    return sum(any(s <= f <= e + t for f in fired) for s, e, t in segments)


def replay(detector, file: protocol.DevFile) -> dict | None:
    """The file's counts before and after a normal verdict on its first false alert (None: it has none)."""
    before = detector.detect(file.test)
    fired, true, segments = judged(before, file.labels)
    first = next((k for k, ok in enumerate(true) if not ok), None)
    if first is None:
        return None
    alert = before.alerts[first]
    rows = file.test.iloc[max(alert.start - detector.window_size + 1, 0):alert.end + 1]
    effect = detector.learn_normal(rows, followed_level=alert.followed_level)
    after = detector.detect(file.test)
    fired_after, true_after, _ = judged(after, file.labels)
    late = lambda fired_rows, truth: sum(1 for f, ok in zip(fired_rows, truth) if not ok and f > alert.end)
    return {"file": file.name, "segments": len(segments), "found_before": found(fired, segments),
            "found_after": found(fired_after, segments), "later_false_before": late(fired, true),
            "later_false_after": late(fired_after, true_after), "verdict_rows": len(rows),
            "peak_before": effect.peak_before, "peak_after": effect.peak_after,
            "threshold_ratio": effect.threshold_ratio}


def replay_every(detector, file: protocol.DevFile, most: int = 50) -> dict | None:
    """The file's false alerts with a normal verdict on each as it comes, against none (None: it has none)."""
    before = detector.detect(file.test)
    fired, true, segments = judged(before, file.labels)
    if all(true):
        return None
    seen, after, detection = 0, -1, before
    while seen < most:
        fired_now, true_now, _ = judged(detection, file.labels)
        nxt = next((k for k, (f, ok) in enumerate(zip(fired_now, true_now)) if not ok and f > after), None)
        if nxt is None:
            break
        alert = detection.alerts[nxt]
        rows = file.test.iloc[max(alert.start - detector.window_size + 1, 0):alert.end + 1]
        detector.learn_normal(rows, followed_level=alert.followed_level)
        seen, after = seen + 1, alert.end
        detection = detector.detect(file.test)
    fired_last, _, _ = judged(detection, file.labels)
    return {"file": file.name, "segments": len(segments), "found_before": found(fired, segments),
            "found_after": found(fired_last, segments), "false_without": sum(1 for ok in true if not ok),
            "false_seen": seen}


def summary_every(set_name: str, rows: pd.DataFrame) -> str:
    if rows.empty:
        return f"{set_name}: no file with a false alert"
    n = rows.segments.sum()
    return (f"{set_name}: {len(rows)} files with a false alert; a verdict on every false alert as it comes: "
            f"false alerts {rows.false_without.sum()} without feedback -> {rows.false_seen.sum()} seen with it; "
            f"segments found {rows.found_before.sum()}/{n} -> {rows.found_after.sum()}/{n} by the last version")


def summary_line(set_name: str, rows: pd.DataFrame) -> str:
    if rows.empty:
        return f"{set_name}: no file with a false alert"
    n = rows.segments.sum()
    before, after = rows.later_false_before.sum(), rows.later_false_after.sum()
    return (f"{set_name}: {len(rows)} files with a false alert; later false alerts {before} -> {after}; "
            f"segments found {rows.found_before.sum()}/{n} -> {rows.found_after.sum()}/{n} (recall drop "
            f"{(rows.found_before.sum() - rows.found_after.sum()) / n:.3f}); targets: later false alerts "
            f"<= {before / 2:g}, recall drop <= 0.02")


def main(argv=None) -> None:
    parser = common.parser(__name__, __doc__)
    common.dev_set_options(parser, SETS)
    parser.add_argument("--seed", type=int, default=0, help="the model seed")
    parser.add_argument("--rules", help="AlertRules parameters as JSON beyond the cached model's own, e.g. "
                                        "'{\"record\": 300}' (as in the decisions study)")
    parser.add_argument("--every", action="store_true",
                        help="a normal verdict on every false alert as it comes, not the first alone")
    common.output_options(parser, "feedback")
    args = parser.parse_args(argv)
    common.one_torch_thread()
    common.ignore_gap_warnings()
    rules = json.loads(args.rules) if args.rules else {}
    frames, lines = [], []
    for set_name in args.sets:
        rows = []
        for file in protocol.load(set_name, args.limit):
            detector = with_rules(fitted_file(set_name, file, args.seed, refit=False), rules)
            result = (replay_every if args.every else replay)(detector, file)
            if result is not None:
                rows.append({"set": set_name, **result})
        frame = pd.DataFrame(rows)
        frames.append(frame)
        lines.append((summary_every if args.every else summary_line)(set_name, frame))
        print(lines[-1], flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pd.concat(frames).to_csv(out / f"{args.tag}.per_file.csv", index=False)
    (out / f"{args.tag}.md").write_text("\n".join(f"- {line}" for line in lines) + "\n")


if __name__ == "__main__":
    main()
