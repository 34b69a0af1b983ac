"""The benchmark suite stays runnable: every study imports, `python -m benchmarks.quality --help` lists
them all, and each sub-command answers `--help` (none of it runs a study: they take minutes to hours)."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.quality import STUDIES

REPO = Path(__file__).resolve().parents[1]
SPEED = sorted(p.stem for p in (REPO / "benchmarks" / "speed").glob("*.py") if p.stem != "__init__")


def run_quality(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "benchmarks.quality", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("name", sorted(STUDIES))
def test_every_study_is_a_module_with_a_docstring_and_a_main(name):
    module = importlib.import_module(f"benchmarks.quality.{STUDIES[name]}")
    assert module.__doc__ and module.__doc__.strip(), f"{module.__name__} says nothing of what it measures"
    assert callable(module.main)


@pytest.mark.parametrize("name", SPEED)
def test_every_speed_script_imports_as_a_module(name):
    importlib.import_module(f"benchmarks.speed.{name}")


def test_help_lists_every_study_with_its_summary():
    done = run_quality("--help")
    assert done.returncode == 0, done.stderr
    for name, stem in STUDIES.items():
        summary = importlib.import_module(f"benchmarks.quality.{stem}").__doc__.strip().splitlines()[0]
        assert f"  {name} " in done.stdout and summary in done.stdout, name


@pytest.mark.parametrize("name", sorted(STUDIES))
def test_each_sub_command_answers_help(name):
    done = run_quality(name, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: python -m benchmarks.quality {name}"), done.stdout[:200]


@pytest.mark.parametrize("args, message", [((), "usage: python -m benchmarks.quality NAME"),
                                           (("no-such-study",), "no study 'no-such-study'; choose from skab, ")])
def test_a_missing_or_unknown_study_is_refused_with_the_choices(args, message):
    done = run_quality(*args)
    assert done.returncode == 2
    assert message in done.stderr


def test_no_benchmark_changes_the_import_path():
    hacks = [str(p.relative_to(REPO)) for p in (REPO / "benchmarks").rglob("*.py") if "sys.path" in p.read_text()]
    assert not hacks, f"{hacks} change sys.path; import through the benchmarks package and run with python -m"
