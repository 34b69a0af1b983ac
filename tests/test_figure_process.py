"""The figure process (`seqae.figure_process`): the default figures drawn beside the caller, the same
files as drawn in process, and the caller's figures whatever becomes of the process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seqae import figure_process
from seqae.figure_process import FigureSpec, draw, drawing, warm_up
from seqae.workers import available_cpus

REPO = Path(__file__).resolve().parents[1]
two_cpus = pytest.mark.skipif(available_cpus() < 2, reason="the figure process runs only beside a second CPU")


def specs() -> list[FigureSpec]:
    index = pd.date_range("2026-01-01", periods=300, freq="min")
    scores = np.abs(np.sin(np.arange(300) / 9.0)) + np.where(np.arange(300) > 250, 2.0, 0.0)
    return [FigureSpec("loss_curves", "loss_curves.png", ([1.0, 0.6, 0.5], [1.1, 0.7, 0.65], 3), {"title": "losses"}),
            FigureSpec("score_timeline", "scores.png", (index, scores, 1.5, scores > 1.5), {"title": "scores"})]


def the_process() -> subprocess.Popen | None:
    return figure_process._process


def gone(pid: int, within_s: float = 10.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().rsplit(")", 1)[1].split()[0] == "Z":  # ended, not yet reaped by its parent
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


@two_cpus
def test_the_figures_drawn_beside_are_the_files_drawn_in_process(tmp_path):
    assert warm_up()
    beside, here = tmp_path / "beside", tmp_path / "here"
    beside.mkdir()
    here.mkdir()
    with drawing(specs(), beside) as drawn:
        pass
    assert drawn.aside
    assert drawn.paths == [beside / "loss_curves.png", beside / "scores.png"]
    for path, same in zip(drawn.paths, draw(specs(), here)):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert path.read_bytes() == same.read_bytes()


@two_cpus
def test_one_process_serves_one_request_after_another(tmp_path):
    assert warm_up()
    first = the_process()
    for k in range(3):
        folder = tmp_path / str(k)
        folder.mkdir()
        with drawing(specs()[:1], folder) as drawn:
            pass
        assert drawn.aside and drawn.paths == [folder / "loss_curves.png"]
    assert the_process() is first and warm_up() and the_process() is first


@two_cpus
def test_a_figure_process_that_died_leaves_the_figures_to_the_caller(tmp_path):
    assert warm_up()
    process = the_process()
    process.kill()
    process.wait()
    with drawing(specs(), tmp_path) as drawn:
        pass
    assert not drawn.aside and [p.name for p in drawn.paths] == ["loss_curves.png", "scores.png"]
    assert all(p.stat().st_size > 1000 for p in drawn.paths)
    assert warm_up() and the_process() is not process  # the next warm-up starts another


@two_cpus
def test_a_figure_that_fails_raises_its_own_error_in_the_caller(tmp_path):
    assert warm_up()
    right = specs()[1]
    wrong = FigureSpec("score_timeline", "scores.png", right.args, {"no_such_option": 1})
    with pytest.raises(TypeError, match="no_such_option"):
        with drawing([wrong], tmp_path):
            pass
    with drawing(specs(), tmp_path) as drawn:  # it answered the failed request: still in step
        pass
    assert drawn.aside


@two_cpus
def test_an_error_in_the_block_stops_the_drawing_and_draws_nothing(tmp_path):
    assert warm_up()
    process = the_process()
    with pytest.raises(RuntimeError, match="the model could not be logged"):
        with drawing(specs(), tmp_path):
            raise RuntimeError("the model could not be logged")
    assert process.poll() is not None  # stopped, whatever it had drawn: its answer is not waited for
    assert warm_up() and the_process() is not process


def test_without_a_figure_process_the_caller_draws_them(tmp_path, monkeypatch):
    monkeypatch.setattr(figure_process, "_process", None)
    with drawing(specs(), tmp_path) as drawn:
        assert not list(tmp_path.iterdir())  # nothing drawn before the block ends
    assert not drawn.aside and [p.name for p in drawn.paths] == ["loss_curves.png", "scores.png"]


def test_no_figure_asked_draws_nothing_and_imports_no_matplotlib():
    code = textwrap.dedent("""
        import sys, tempfile
        from seqae.figure_process import drawing
        with tempfile.TemporaryDirectory() as folder, drawing([], folder) as drawn:
            pass
        print(drawn.paths, "matplotlib" in sys.modules)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[]", "False"]


@pytest.mark.parametrize("how", ["exit", "kill -9"])
@two_cpus
def test_the_figure_process_ends_with_the_process_that_started_it(how):
    code = textwrap.dedent(f"""
        import os, signal, sys, time
        from seqae import figure_process
        assert figure_process.warm_up()
        print(figure_process._process.pid, flush=True)
        time.sleep(0.5)
        if {how!r} == "kill -9":
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == (0 if how == "exit" else -signal.SIGKILL), done.stderr
    assert gone(int(done.stdout.split()[0]))


@pytest.mark.parametrize("function, name", [("pie_chart", "pie.png"), ("score_timeline", "../scores.png"),
                                            ("score_timeline", "scores.svg")])
def test_a_figure_names_one_of_the_figures_and_a_png_file(function, name):
    with pytest.raises(ValueError, match="loss_curves|file name ending in .png"):
        FigureSpec(function, name)
