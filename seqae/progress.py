"""The progress bars of long work (training epochs, rows scored): tqdm on stderr, drawn only on a
terminal, so that a log file or a pipe never gets a bar's control characters."""

from __future__ import annotations

import sys


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
