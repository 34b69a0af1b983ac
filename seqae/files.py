"""Writing a file or a directory whole or not at all.

Outputs are written under a temporary name beside their target (`.NAME-PID-RANDOM.part`, PID the
writing process) and renamed onto it at the end, so that an interrupted command (an error, Ctrl-C,
SIGTERM, kill -9) never leaves a half-written scores file or model directory where a finished one is
expected. What a command killed with -9 could not remove, the next write to the same path does:
`sweep_stale_parts` removes the temporary siblings whose writer no longer runs. A command's scratch
files in the temporary folder (`scratch_directory`) are swept the same way.

A full disk (a quota, a failing disk) is one line, a `seqae.errors.StorageError` naming the output,
and nothing of the output is left: a temporary file is removed even when closing it fails for the
same reason (its buffered rows cannot be written either).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Iterable, Iterator

from seqae import processes
from seqae.errors import ConfigError, storage_error

PART_SUFFIX = ".part"


def current_umask() -> int:
    """The process's file-creation mask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def part_prefix(path: Path) -> str:
    """The start of the temporary name of `path` for this process: `.NAME-PID-`."""
    return f".{path.name}-{os.getpid()}-"


def sweep_stale_parts(path: str | os.PathLike) -> list[Path]:
    """Remove the temporary siblings of `path` left by writers that no longer run; returns them.

    A sibling named with its writer's pid is stale when that pid runs no process on this machine,
    or runs one that started after the sibling was last written (the pid was handed out again). One
    named without a pid (by an earlier seqae) is stale when it is older than this process.
    """
    path = Path(path)
    pattern = re.compile(rf"\.{re.escape(path.name)}-(?:(\d+)-)?[a-z0-9_]+{re.escape(PART_SUFFIX)}")
    me = processes.this_process()
    removed = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    for entry in entries:
        found = pattern.fullmatch(entry.name)
        if found is None or (found[1] is not None and int(found[1]) == me.pid):
            continue
        try:
            modified = entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        if found[1] is None:
            stale = me.started is not None and modified < me.started
        else:
            pid = int(found[1])
            started = processes.started_at(pid)
            stale = (processes.is_running(pid, me.host) is False
                     or (started is not None and started > modified + processes.START_TOLERANCE_S))
        if stale:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                with suppress(FileNotFoundError):
                    os.unlink(entry.path)
            removed.append(Path(entry.path))
    return removed


def check_distinct_outputs(outputs: dict) -> None:
    """Refuse two outputs (option name -> path, or None) that name the same file: the second would
    replace the first (a one-line `ConfigError`)."""
    seen = {}
    for option, path in outputs.items():
        if path is None:
            continue
        key = os.path.realpath(path)
        if key in seen:
            raise ConfigError(f"{seen[key]} and {option} both name {path}: the second would replace the first; "
                              "give each output a file of its own")
        seen[key] = option


def fullest(paths: Iterable[str | os.PathLike]) -> Path:
    """Of `paths` (files or folders, existing or not), the one whose file system has the least free
    space: where a write that failed for want of space most likely failed."""
    def free(path: Path) -> int:
        for folder in (path, *path.parents):
            with suppress(OSError):
                return shutil.disk_usage(folder).free
        return 1 << 62

    candidates = [Path(p) for p in paths]
    return min(candidates, key=free)


class StagedFile:
    """A text file written under a temporary name beside `path`, renamed to it by `commit`."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        sweep_stale_parts(self.path)
        try:
            descriptor, self.temporary = tempfile.mkstemp(prefix=part_prefix(self.path), suffix=PART_SUFFIX,
                                                          dir=self.path.parent)
        except OSError as exc:
            error = storage_error(exc, self.path)
            if error is None:
                raise
            raise error from None
        os.chmod(self.temporary, 0o666 & ~current_umask())  # mkstemp makes it private; an output is an ordinary file
        self.handle = os.fdopen(descriptor, "w", newline="", encoding="utf-8")

    def close(self) -> None:
        """Write what is buffered and close; a full disk is a `StorageError` naming the output."""
        try:
            self.handle.close()
        except OSError as exc:
            error = storage_error(exc, self.path)
            if error is None:
                raise
            raise error from None

    def commit(self) -> None:
        os.replace(self.temporary, self.path)

    def discard(self) -> bool:
        """Close and remove the temporary file. A close that fails (the buffered rows cannot be
        written to a full disk) still lets go of the file, which is removed all the same; returns
        True when it failed: this file is where the data could not go."""
        failed = False
        try:
            self.handle.close()
        except OSError:
            failed = True
        with suppress(FileNotFoundError):
            os.unlink(self.temporary)
        return failed


@contextmanager
def staged_files(paths) -> Iterator[list[StagedFile]]:
    """Yield a `StagedFile` for each of `paths`; all are renamed onto their targets when the block
    ends without an error, all removed when it raises: a command's outputs land together or not at all.
    A full disk is a `StorageError` naming the output that could not be written."""
    paths = [Path(p) for p in paths]
    staged: list[StagedFile] = []
    try:
        for path in paths:
            staged.append(StagedFile(path))
        yield staged
        for file in staged:
            file.close()
        for file in staged:
            file.commit()
    except BaseException as exc:
        failed = [file.path for file in staged if file.discard()]
        if not isinstance(exc, OSError):
            raise
        error = storage_error(exc, failed[0] if failed else fullest([*paths, tempfile.gettempdir()]))
        if error is None:
            raise
        raise error from None


@contextmanager
def staged_directory(target: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary directory beside `target`; renamed to `target` when the block ends
    without an error, removed when it raises. `target` must not exist or be an empty directory.
    A full disk is a `StorageError` naming `target`."""
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        sweep_stale_parts(target)
        staging = Path(tempfile.mkdtemp(prefix=part_prefix(target), suffix=PART_SUFFIX, dir=target.parent))
    except OSError as exc:
        error = storage_error(exc, target)
        if error is None:
            raise
        raise error from None
    try:
        os.chmod(staging, 0o777 & ~current_umask())  # mkdtemp makes it private; a model is an ordinary folder
        yield staging
        if target.exists():
            target.rmdir()
        staging.rename(target)
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        error = storage_error(exc, target)
        if error is None:
            raise
        raise error from None


@contextmanager
def scratch_directory(name: str) -> Iterator[Path]:
    """Yield a private directory for a command's intermediate files in the system's temporary folder
    (`.NAME-PID-RANDOM.part`), removed when the block ends. What a command killed with -9 left there,
    the next `scratch_directory` of the same name removes (`sweep_stale_parts`)."""
    anchor = Path(tempfile.gettempdir()) / name
    sweep_stale_parts(anchor)
    with tempfile.TemporaryDirectory(prefix=part_prefix(anchor), suffix=PART_SUFFIX) as folder:
        yield Path(folder)
