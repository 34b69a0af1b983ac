"""Writing a file or a directory whole or not at all.

Outputs are written under a temporary name beside their target and renamed onto it at the end, so
an interrupted command (an error, Ctrl-C, kill -9) never leaves a half-written scores file or model
directory where a finished one is expected.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def current_umask() -> int:
    """The process's file-creation mask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class StagedFile:
    """A text file written under a temporary name beside `path`, renamed to it by `commit`."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        descriptor, self.temporary = tempfile.mkstemp(prefix=f".{self.path.name}-", suffix=".part",
                                                      dir=self.path.parent)
        os.chmod(self.temporary, 0o666 & ~current_umask())  # mkstemp makes it private; an output is an ordinary file
        self.handle = os.fdopen(descriptor, "w", newline="", encoding="utf-8")

    def close(self) -> None:
        self.handle.close()

    def commit(self) -> None:
        os.replace(self.temporary, self.path)

    def discard(self) -> None:
        self.handle.close()
        if os.path.exists(self.temporary):
            os.unlink(self.temporary)


@contextmanager
def staged_files(paths) -> Iterator[list[StagedFile]]:
    """Yield a `StagedFile` for each of `paths`; all are renamed onto their targets when the block
    ends without an error, all removed when it raises: a command's outputs land together or not at all."""
    staged: list[StagedFile] = []
    try:
        for path in paths:
            staged.append(StagedFile(path))
        yield staged
        for file in staged:
            file.close()
        for file in staged:
            file.commit()
    except BaseException:
        for file in staged:
            file.discard()
        raise


@contextmanager
def staged_directory(target: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary directory beside `target`; renamed to `target` when the block ends
    without an error, removed when it raises. `target` must not exist or be an empty directory."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        os.chmod(staging, 0o777 & ~current_umask())  # mkdtemp makes it private; a model is an ordinary folder
        yield staging
        if target.exists():
            target.rmdir()
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
