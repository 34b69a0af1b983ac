"""Progress of long work on stderr: bars (training epochs, rows scored; tqdm, drawn only on a
terminal, so that a log file or a pipe never gets a bar's control characters) and stage lines
(`StageLog`: one plain line per stage wherever stderr goes)."""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager


class ProgressBar:
    """A bar over `total` units (None: unknown); silent unless `enabled` and stderr is a terminal."""

    def __init__(self, total: int | None, desc: str, unit: str, enabled: bool = True, unit_scale: bool = False):
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=desc, unit=unit, unit_scale=unit_scale, file=sys.stderr, leave=False,
                            disable=None)  # None: drawn only on a terminal, never into a log file

    def update(self, n: int = 1, **postfix) -> None:
        """Advance by `n` units, showing `postfix` (name=value) beside the bar."""
        if self.bar is None:
            return
        if postfix:
            self.bar.set_postfix(postfix, refresh=False)
        self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class StageLog:
    """What long work is doing, stage by stage (auto-configuration: the window, each detector
    fitted, the comparison), on stderr: on a terminal a line when a stage starts and one when it
    ends (the epoch bars of a network between them); elsewhere (a log file, a CI job, a cron
    mail) one plain line per finished stage, flushed at once, so the log shows how far it got.

    >>> import io
    >>> log = StageLog("auto", stream=io.StringIO())
    >>> with log.stage("fitting knn-window"):
    ...     pass
    >>> log.stream.getvalue().startswith("auto: fitting knn-window: done in ")
    True
    """

    def __init__(self, title: str, enabled: bool = True, stream=None):
        self.title, self.enabled = title, enabled
        self.stream = sys.stderr if stream is None else stream
        self.terminal = bool(getattr(self.stream, "isatty", lambda: False)())

    @contextmanager
    def stage(self, what: str):
        """A stage: its start on a terminal, its end (with its seconds, or that it failed) always."""
        if not self.enabled:
            yield
            return
        if self.terminal:
            self._write(f"{self.title}: {what} ...")
        started = time.perf_counter()
        try:
            yield
        except BaseException:
            self._write(f"{self.title}: {what}: failed after {time.perf_counter() - started:.1f} s")
            raise
        self._write(f"{self.title}: {what}: done in {time.perf_counter() - started:.1f} s")

    def note(self, text: str) -> None:
        """One line of its own (what a stage found)."""
        if self.enabled:
            self._write(f"{self.title}: {text}")

    def _write(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()
