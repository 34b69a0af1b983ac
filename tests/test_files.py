"""Outputs whole or not at all, under faults: a full disk (/dev/full, a full tmpfs), SIGTERM and
kill -9 of `seqae score`, and the temporary files a killed command leaves, swept by the next write.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from fault_helpers import fill, one_error_line, parts, seqae, small_disk, start, wait_until, write_sensors
from seqae.detectors import make_detector
from seqae.errors import StorageError
from seqae.files import StagedFile, staged_directory, staged_files, sweep_stale_parts


def full_handle():
    """A real file whose writes fail as on a full disk."""
    return open("/dev/full", "w", newline="", encoding="utf-8")


@pytest.mark.parametrize("rows", [10, 100_000], ids=["fails-at-close", "fails-at-write"])
def test_a_full_disk_is_one_storage_error_naming_the_output_and_nothing_is_left(tmp_path, rows):
    out, other = tmp_path / "scores.csv", tmp_path / "alerts.csv"
    with pytest.raises(StorageError, match=rf"^{out}: cannot write: no space left on device; free some space"):
        with staged_files([out, other]) as files:
            files[0].handle.close()
            files[0].handle = full_handle()  # this output's disk is full
            for row in range(rows):
                files[0].handle.write(f"{row},0.5,0\n")
            files[1].handle.write("start,end\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no output, no temporary file


def test_a_discard_whose_close_fails_still_removes_the_temporary_file(tmp_path):
    staged = StagedFile(tmp_path / "state.json")
    staged.handle.close()
    staged.handle = full_handle()
    staged.handle.write("{}")  # buffered: the close would write it, and fails
    assert staged.discard() is True
    assert list(tmp_path.iterdir()) == []


def test_a_close_that_fails_is_a_storage_error(tmp_path):
    staged = StagedFile(tmp_path / "state.json")
    staged.handle.close()
    staged.handle = full_handle()
    staged.handle.write("{}")
    with pytest.raises(StorageError, match="state.json: cannot write: no space left on device"):
        staged.close()
    staged.discard()
    assert list(tmp_path.iterdir()) == []


def test_stale_temporary_siblings_go_and_live_or_foreign_ones_stay(tmp_path):
    target = tmp_path / "scores.csv"
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead_part = tmp_path / f".scores.csv-{gone.pid}-abc_123.part"
        live_part = tmp_path / f".scores.csv-{alive.pid}-xyz98765.part"
        old_part = tmp_path / ".scores.csv-q1w2e3r4.part"  # named without its writer, older than this process
        other = tmp_path / ".scores.csv-notes.txt"
        for path in (dead_part, live_part, old_part, other):
            path.write_text("rows")
        os.utime(old_part, (time.time() - 3600 * 24 * 30,) * 2)
        (tmp_path / f".scores.csv-{gone.pid}-dir00001.part").mkdir()  # a staged directory
        removed = sweep_stale_parts(target)
        assert sorted(p.name for p in removed) == sorted([dead_part.name, old_part.name,
                                                          f".scores.csv-{gone.pid}-dir00001.part"])
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live_part.name, other.name])
    finally:
        alive.kill()
        alive.wait()


def test_a_staged_directory_sweeps_what_a_killed_save_left(tmp_path):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (tmp_path / f".model-{gone.pid}-k1ll3d00.part").mkdir()
    (tmp_path / f".model-{gone.pid}-k1ll3d00.part" / "config.json").write_text("{")
    with staged_directory(tmp_path / "model") as staging:
        (staging / "config.json").write_text("{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


@pytest.fixture(scope="module")
def scoring(tmp_path_factory):
    """A saved PCA model and a CSV long enough that scoring it takes a few seconds."""
    root = tmp_path_factory.mktemp("scoring")
    data = write_sensors(root / "big.csv", 400_000)
    write_sensors(root / "train.csv", 2000, seed=1)
    from seqae.data import read_sensor_csv

    make_detector("pca", window_size=4).fit(read_sensor_csv(root / "train.csv")).save(root / "model")
    return root, data


def test_sigterm_stops_score_cleanly_and_leaves_no_part_file(scoring, tmp_path):
    root, data = scoring
    process = start(["score", root / "model", data, "-o", tmp_path / "out.csv", "--intervals",
                     tmp_path / "alerts.csv"], tmp_path)
    wait_until(lambda: bool(parts(tmp_path)), process)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_kill_9_leaves_a_part_file_that_the_next_score_of_the_same_path_removes(scoring, tmp_path):
    root, data = scoring
    process = start(["score", root / "model", data, "-o", tmp_path / "out.csv"], tmp_path)
    wait_until(lambda: bool(parts(tmp_path)), process)
    time.sleep(0.5)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    left = parts(tmp_path)
    assert left and left[0].startswith(f".out.csv-{process.pid}-")
    small = write_sensors(tmp_path.parent / f"{tmp_path.name}-small.csv", 500)
    done = seqae(["score", root / "model", small, "-o", tmp_path / "out.csv"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_score_to_a_full_disk_is_one_line_naming_the_output_with_nothing_left(scoring, tmp_path):
    root, _ = scoring
    data = write_sensors(tmp_path / "in.csv", 20_000)
    with small_disk(tmp_path / "disk", 2048) as disk:
        fill(disk, leave_kb=64)
        done = seqae(["score", root / "model", data, "-o", disk / "scores.csv"], tmp_path)
        assert done.returncode == 1, done.stderr
        line = one_error_line(done.stderr)
        assert line.startswith(f"Error: {disk / 'scores.csv'}: cannot write: no space left on device"), line
        assert sorted(p.name for p in disk.iterdir()) == ["filler"]
