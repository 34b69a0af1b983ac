"""The watch's state file (`seqae.streaming.state`): a followed file stopped and watched again goes on
from the next row with the answers of one watch that never stopped; what the state gives a watch of
another source; files that are not a state file, or a followed file that was replaced, refused in one
line."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from seqae.data import read_sensor_csv
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
    causal = detector.detect(read_sensor_csv(folder / "data.csv"), causal=True)
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
