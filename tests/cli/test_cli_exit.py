"""How `seqae` ends: the command's objects frozen before the interpreter's exit collects them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_command_freezes_its_objects_before_the_interpreter_exits():
    # What makes `seqae`'s exit quick: the last collections skip what the command made.
    code = ("import atexit, gc, sys; atexit.register(lambda: print('frozen', gc.get_freeze_count() > 0)); "
            "sys.argv = ['seqae', '--version']; from seqae.cli import main; main()")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-2:] == ["frozen", "True"]
