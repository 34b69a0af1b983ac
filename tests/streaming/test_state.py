"""The watch's state file (`seqae.streaming.state`): a followed file stopped and watched again goes on
from the next row with the answers of one watch that never stopped; what the state gives a watch of
another source; files that are not a state file, or a followed file that was replaced, refused in one
line."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from seqae.data import ReadOptions, read_sensor_csv
from seqae.detectors import make_detector
from seqae.errors import DataError
from seqae.streaming import feed
from seqae.streaming.state import resume
from seqae.synthetic import make_sensor_data

N_ROWS, N_TRAIN, WINDOW, STOP_AT = 300, 200, 10, 150


@pytest.fixture(scope="module")
def watched(tmp_path_factory):
    folder = tmp_path_factory.mktemp("state")
    frame, _, _ = make_sensor_data(N_ROWS, 3, normal_rows=N_TRAIN, anomalies=("level_shift",), anomaly_length=40,
                                   random_state=3)
    frame.index.name = "timestamp"
    frame.to_csv(folder / "data.csv")
    detector = make_detector("knn-window", window_size=WINDOW, smoothing=2).fit(frame.iloc[:N_TRAIN])
    causal = detector.detect(read_sensor_csv(folder / "data.csv"))  # what a feed of the file decides
    return folder, detector, causal


def follow(path, detector, state_path, last_line: int) -> list[dict]:
    """Watch the growing file `path` (from its first row, or where the state file says) until its
    line `last_line` is answered; the answers."""
    resumed = resume(state_path, detector, str(path))
    source = feed.LineSource(str(path), from_start=True, offset=resumed.offset, line=resumed.line)
    out = io.StringIO()
    feed.watch(resumed.scorer, source, out, state_path=state_path, parser_state=resumed.parser,
               stop=lambda: source.line >= last_line)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_a_followed_file_goes_on_from_the_next_row(watched, tmp_path):
    folder, detector, causal = watched
    lines = (folder / "data.csv").read_text().splitlines(keepends=True)
    path, state = tmp_path / "growing.csv", tmp_path / "state.json"
    path.write_text("".join(lines[:1 + STOP_AT]))
    first = follow(path, detector, state, last_line=1 + STOP_AT)
    with open(path, "a") as handle:
        handle.write("".join(lines[1 + STOP_AT:]))
    second = follow(path, detector, state, last_line=1 + N_ROWS)
    assert [a["line"] for a in first] == list(range(2, STOP_AT + 2))
    assert [a["line"] for a in second] == list(range(STOP_AT + 2, N_ROWS + 2))
    answers = first + second
    np.testing.assert_array_equal([np.nan if a["score"] is None else a["score"] for a in answers], causal.scores)
    opened = [a["alert"]["alert_id"] for a in answers if a["alert"] and a["alert"]["event"] == "open"]
    assert opened == detector.find_alerts(causal).table["alert_id"].tolist()


def test_what_the_state_gives_a_watch_of_another_source(watched, tmp_path):
    folder, detector, _ = watched
    lines = (folder / "data.csv").read_text().splitlines(keepends=True)
    path, state = tmp_path / "growing.csv", tmp_path / "state.json"
    path.write_text("".join(lines[:1 + STOP_AT]))
    follow(path, detector, state, last_line=1 + STOP_AT)
    fresh = resume(None, detector, str(path))
    assert fresh.scorer.n_rows == 0 and (fresh.offset, fresh.line, fresh.parser) == (None, None, None)
    same = resume(state, detector, str(path))
    assert same.scorer.n_rows == STOP_AT and same.line == 1 + STOP_AT and same.offset == path.stat().st_size
    assert same.parser["n_rows"] == STOP_AT
    other = resume(state, detector, str(tmp_path / "other.csv"))  # the scorer goes on; the file starts anew
    assert other.scorer.n_rows == STOP_AT and (other.offset, other.line, other.parser) == (None, None, None)
    pipe = resume(state, detector, "-")  # a pipe: rows must still come after the last row's time
    assert pipe.offset is None and pipe.parser == same.parser


@pytest.mark.parametrize("text", ["{}", "not json", json.dumps({"format": 0, "scorer": {}})])
def test_a_file_that_is_not_a_state_file_is_refused(watched, tmp_path, text):
    _, detector, _ = watched
    state = tmp_path / "state.json"
    state.write_text(text)
    with pytest.raises(DataError, match=r"state\.json: not a state file written by seqae watch.*remove it"):
        resume(state, detector, "-")


def test_a_followed_file_shorter_than_the_state_says_is_refused(watched, tmp_path):
    folder, detector, _ = watched
    lines = (folder / "data.csv").read_text().splitlines(keepends=True)
    path, state = tmp_path / "growing.csv", tmp_path / "state.json"
    path.write_text("".join(lines[:1 + STOP_AT]))
    follow(path, detector, state, last_line=1 + STOP_AT)
    path.write_text("".join(lines[:11]))  # replaced by a shorter file
    with pytest.raises(DataError, match="the file is shorter now; it was replaced: start without the state file"):
        follow(path, detector, state, last_line=11)


@pytest.mark.parametrize("options", [ReadOptions(), ReadOptions(duplicates="mean"), ReadOptions(resample="3s"),
                                     ReadOptions(duplicates="last", resample="2s")])
def test_the_state_a_kill_leaves_between_whole_rewrites_goes_on_as_if_nothing_stopped(watched, tmp_path, options):
    """A followed file growing 10 lines at a time (some times written twice), its state copied right
    after a block's answers, as kill -9 would leave it, well before the next whole rewrite: a watch
    resumed from the copy answers the rows after that block, once, and the two give the answers of
    one watch that never stopped, rows waiting for a later time (--duplicates, --resample) included."""
    folder, detector, _ = watched
    lines = (folder / "data.csv").read_text().splitlines(keepends=True)
    rows = lines[1:]
    for k in (40, 41, 95, 160):  # a time written twice: the same row, then other readings
        rows.insert(k, rows[k].split(",", 1)[0] + ",1.0,2.0,3.0\n" if k % 2 else rows[k])
    last_line = 1 + len(rows)
    path, state = tmp_path / "growing.csv", tmp_path / "state.json"

    def watch_growing(out: io.StringIO, crash_after: int | None = None):
        """Watch `path` from its first row, 10 more lines written each time the watch looks; with
        `crash_after`, the state file and the answers as they stood after the block reaching that line."""
        path.write_text(lines[0])
        written, left = [0], {}

        def grow() -> bool:
            if written[0] < len(rows):
                with open(path, "a") as handle:
                    handle.write("".join(rows[written[0]:written[0] + 10]))
                written[0] += 10
            return source.line >= last_line

        def report(detection, events):
            if crash_after is not None and not left and source.line >= crash_after:
                left.update(state=state.read_text(), answers=out.getvalue())

        resumed = resume(state, detector, str(path), options)
        source = feed.LineSource(str(path), from_start=True, offset=resumed.offset, line=resumed.line)
        feed.watch(resumed.scorer, source, out, options=options, state_path=state, state_every=1000,
                   parser_state=resumed.parser, shaper_state=resumed.shaper, stop=grow, report=report)
        return left

    whole = io.StringIO()
    watch_growing(whole)
    state.unlink()
    left = watch_growing(io.StringIO(), crash_after=150)
    state.write_text(left["state"])  # what a kill right after those answers leaves
    assert len(left["state"].splitlines()) > 2  # a snapshot and the blocks answered since
    resumed = resume(state, detector, str(path), options)
    source = feed.LineSource(str(path), offset=resumed.offset, line=resumed.line)
    rest = io.StringIO()
    feed.watch(resumed.scorer, source, rest, options=options, state_path=state, parser_state=resumed.parser,
               shaper_state=resumed.shaper, stop=lambda: source.line >= last_line)
    answers = [json.loads(line) for line in (left["answers"] + rest.getvalue()).splitlines()]
    assert answers == [json.loads(line) for line in whole.getvalue().splitlines()]
    assert len({(a["line"], a["timestamp"]) for a in answers}) == len(answers)
